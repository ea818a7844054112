// A real smbd on 127.0.0.1 for integration tests, with every state directory
// in a temp dir (nothing in /etc/samba or /var/lib/samba is read or written),
// and a real SMB2 client (impacket, test/helpers/smb-fileids.py) that reads
// the FileId of every file. Stopped by pid in t.teardown.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, mkdir, open, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const run = promisify(execFile);
const SMBD = '/usr/sbin/smbd';
const SMBPASSWD = '/usr/bin/smbpasswd';
// Debian's python, where python3-impacket lives (a pyenv `python3` on PATH lacks it).
const PYTHON = '/usr/bin/python3';
// The .py file is not compiled: find it in the source tree from dist/test/helpers.
const here = dirname(fileURLToPath(import.meta.url));
export const FILEIDS_PY = join(here, '..', '..', '..', 'test', 'helpers', 'smb-fileids.py');

export const SMB_USER = 'root';
export const SMB_PASSWORD = 'stableid-test';

export interface Gate {
  ok: boolean;
  reason: string;
}

/** Whether this machine can run smbd and the impacket client (CI can: root, Debian packages). */
export async function canRunSmbd(): Promise<Gate> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'smbd tests need root' };
  for (const bin of [SMBD, SMBPASSWD, PYTHON])
    if (!(await exists(bin))) return { ok: false, reason: `no ${bin} (apt-get install samba python3-impacket)` };
  try {
    await run(PYTHON, ['-c', 'import impacket.smbconnection'], { timeout: 20_000 });
  } catch {
    return { ok: false, reason: 'no python3-impacket for /usr/bin/python3' };
  }
  return { ok: true, reason: '' };
}

/** One share: its [name] section body, as smb.conf lines ("path = ..." included). */
export interface ShareSpec {
  name: string;
  /** The whole section, "[name]" header included (e.g. the smb-conf command's output). */
  section: string;
}

export interface SmbFileId {
  path: string;
  dir: boolean;
  /** From the parent's FileIdBothDirectoryInformation listing (undefined for the share root). */
  listingId?: bigint;
  /** From FileInternalInformation on the opened file. */
  internalId: bigint;
}

export class Smbd {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly dir: string,
    readonly conf: string,
    readonly port: number,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start smbd and wait until it accepts TCP connections on the port. */
  async start(): Promise<void> {
    if (this.child) throw new Error('smbd already running');
    const log = join(this.dir, 'smbd.out');
    const fh = await open(log, 'a');
    // `--foreground` keeps smbd our child; no `--no-process-group`, whose exit
    // signals the caller's process group. stdin is /dev/null.
    const child = spawn(SMBD, ['--foreground', '-s', this.conf], { stdio: ['ignore', fh.fd, fh.fd] });
    await fh.close(); // the child has its own copy
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!(await canConnect(this.port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        const out = await readFile(log, 'utf8').catch(() => '');
        await this.stop();
        throw new Error(`smbd (${this.conf}) did not listen on 127.0.0.1:${this.port}:\n${out.slice(-2000)}`);
      }
      await sleep(100);
    }
  }

  /** SIGTERM by pid, wait for the exit; then end any per-connection child left behind. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = await Promise.race([this.exited!.then(() => true), sleep(10_000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await this.exited;
      }
    }
    await killStragglers(this.conf);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Every file's FileId in a share, read by impacket over SMB2. */
  async fileIds(share: string): Promise<SmbFileId[]> {
    const args = [FILEIDS_PY, '127.0.0.1', String(this.port), share, SMB_USER, SMB_PASSWORD];
    const { stdout } = await run(PYTHON, args, { timeout: 120_000, maxBuffer: 64 << 20 }).catch((err) => {
      throw new Error(`smb-fileids.py on [${share}] failed: ${err.stderr || err.message}`);
    });
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const r = JSON.parse(line) as { path: string; dir: boolean; listingId: string | null; internalId: string };
        return {
          path: r.path,
          dir: r.dir,
          listingId: r.listingId === null ? undefined : BigInt(r.listingId),
          internalId: BigInt(r.internalId),
        };
      });
  }
}

/**
 * Write an smb.conf for the given shares, add the test user, and start smbd on
 * 127.0.0.1 on a port the kernel picks. Stopped in t.teardown.
 */
export async function startSmbd(t: ExecutionContext, shares: ShareSpec[]): Promise<Smbd> {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-smbd-'));
  for (const sub of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc'])
    await mkdir(join(dir, sub), { recursive: true });
  const port = await freePort(0); // never a fixed port: test files run concurrently, and two smbds racing for one port answer for each other
  const conf = join(dir, 'smb.conf');
  await writeFile(conf, globalSection(dir, port) + shares.map((s) => `\n${s.section.trim()}\n`).join(''));
  // The test user must exist in the private passdb; smbpasswd reads the password twice from stdin.
  await feed(SMBPASSWD, ['-c', conf, '-a', '-s', SMB_USER], `${SMB_PASSWORD}\n${SMB_PASSWORD}\n`);
  const smbd = new Smbd(dir, conf, port);
  t.teardown(async () => {
    await smbd.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await smbd.start();
  return smbd;
}

function globalSection(dir: string, port: number): string {
  return `[global]
  server role = standalone server
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = ${port}
  disable netbios = yes
  private dir = ${dir}/private
  lock directory = ${dir}/lock
  state directory = ${dir}/state
  cache directory = ${dir}/cache
  pid directory = ${dir}/pid
  ncalrpc dir = ${dir}/ncalrpc
  passdb backend = tdbsam:${dir}/private/passdb.tdb
  log file = ${dir}/log.smbd
  max log size = 0
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  registry shares = no
  usershare path =
  server min protocol = SMB2_02
`;
}

function feed(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err}`))));
    child.stdin.end(input);
  });
}

/** smbd forks one child per connection; end any whose command line names our conf. */
async function killStragglers(conf: string): Promise<void> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith(SMBD) || cmdline.startsWith('smbd'))
      if (cmdline.split('\0').includes(conf)) {
        try {
          process.kill(Number(name), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The preferred port if nothing listens there, else one the kernel picks. */
async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, '127.0.0.1', () => {
        const got = (srv.address() as { port: number }).port;
        srv.close(() => resolve(got));
      });
    });
  return (await tryPort(preferred)) ?? (await tryPort(0))!;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
