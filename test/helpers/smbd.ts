// A real smbd on 127.0.0.1 for integration tests, with every state directory
// in a temp dir (nothing in /etc/samba or /var/lib/samba is read or written),
// and a real SMB2 client (impacket, test/helpers/smb-fileids.py) that reads
// the FileId of every file. Stopped by pid in t.teardown.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
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
const CONFLICT_PY = join(here, '..', '..', '..', 'test', 'helpers', 'smb-share-conflict.py');

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
    public port: number,
    /** Runs smbd through this (e.g. nsenter into a cluster node's mount namespace); it must exec smbd, not fork. */
    private readonly wrap: Wrap = (cmd, args) => [cmd, args],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start smbd and wait until it (not some other process) listens on the port. */
  async start(): Promise<void> {
    if (this.child) throw new Error('smbd already running');
    const log = join(this.dir, 'smbd.out');
    const fh = await open(log, 'a');
    // `--foreground` keeps smbd our child; no `--no-process-group`, whose exit
    // signals the caller's process group. stdin is /dev/null.
    const [cmd, args] = this.wrap(SMBD, ['--foreground', '-s', this.conf]);
    const child = spawn(cmd, args, { stdio: ['ignore', fh.fd, fh.fd] });
    await fh.close(); // the child has its own copy
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    // Our smbd must own the listener: with test files running in parallel,
    // another test's smbd may hold the port, and a bare connect would reach it.
    while (!(await ownsListener(child.pid!, this.port))) {
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

  /** Every file's FileId in a share, read by impacket over SMB2 (after creating `put` files over SMB). */
  async fileIds(share: string, put: string[] = []): Promise<SmbFileId[]> {
    return smbFileIds({ port: this.port, share, user: SMB_USER, password: SMB_PASSWORD, put });
  }
}

export interface SmbClient {
  host?: string;
  port: number;
  share: string;
  user: string;
  password: string;
  /** Files to create over SMB first. */
  put?: string[];
}

/** Every file's FileId in a share of any SMB server, read by impacket (test/helpers/smb-fileids.py). */
export async function smbFileIds(c: SmbClient): Promise<SmbFileId[]> {
  const args = [FILEIDS_PY, c.host ?? '127.0.0.1', String(c.port), c.share, c.user, c.password, ...(c.put ?? []).flatMap((p) => ['--put', p])];
  const { stdout } = await run(PYTHON, args, { timeout: 120_000, maxBuffer: 64 << 20 }).catch((err) => {
    throw new Error(`smb-fileids.py on [${c.share}] as ${c.user} failed: ${err.stderr || err.message}`);
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

/**
 * Open `path` through server `first` sharing nothing and, while it is open,
 * for reading through `second` (test/helpers/smb-share-conflict.py): "opened",
 * or the NT status the second open got (STATUS_SHARING_VIOLATION when both
 * servers keep the open in one record, as clustered smbd nodes do).
 */
export async function smbShareConflict(share: string, path: string, first: { host?: string; port: number }, second: { host?: string; port: number }): Promise<string> {
  const addr = (s: { host?: string; port: number }) => `${s.host ?? '127.0.0.1'}:${s.port}`;
  const { stdout } = await run(PYTHON, [CONFLICT_PY, path, SMB_USER, SMB_PASSWORD, share, addr(first), addr(second)], { timeout: 60_000 }).catch((err) => {
    throw new Error(`smb-share-conflict.py on [${share}] ${path} failed: ${err.stderr || err.message}`);
  });
  return (JSON.parse(stdout) as { second: string }).second;
}

export type Wrap = (cmd: string, args: string[]) => [string, string[]];

export interface SmbdOptions {
  /** Lines added to [global] (e.g. clustering settings). */
  global?: string;
  wrap?: Wrap;
}

/**
 * Write an smb.conf for the given shares, add the test user, and start smbd on
 * 127.0.0.1 on a free port. Stopped in t.teardown.
 */
export async function startSmbd(t: ExecutionContext, shares: ShareSpec[], o: SmbdOptions = {}): Promise<Smbd> {
  const p = await prepareSmbd(shares, o);
  t.teardown(p.close);
  await p.listen();
  return p.smbd;
}

export interface LaunchedSmbd {
  smbd: Smbd;
  /** Stop smbd (and its per-connection children) and remove its directory. */
  close(): Promise<void>;
}

/**
 * startSmbd without ava (benchmarks): the caller calls close() when done;
 * when this throws, nothing is left running.
 */
export async function launchSmbd(shares: ShareSpec[], o: SmbdOptions = {}): Promise<LaunchedSmbd> {
  const p = await prepareSmbd(shares, o);
  try {
    await p.listen();
  } catch (err) {
    await p.close();
    throw err;
  }
  return { smbd: p.smbd, close: p.close };
}

/** Add an SMB user to smbd's private passdb (the Unix user must exist; smbd reads the passdb per login). */
export async function addSmbUser(smbd: Smbd, user: string, password: string): Promise<void> {
  await feed(SMBPASSWD, ['-c', smbd.conf, '-a', '-s', user], `${password}\n${password}\n`);
}

/** The conf and state directory written, the test user added; smbd not started yet. */
async function prepareSmbd(shares: ShareSpec[], o: SmbdOptions): Promise<LaunchedSmbd & { listen(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-smbd-'));
  for (const sub of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc'])
    await mkdir(join(dir, sub), { recursive: true });
  const conf = join(dir, 'smb.conf');
  const writeConf = (port: number) =>
    writeFile(conf, globalSection(dir, port) + (o.global ?? '') + shares.map((s) => `\n${s.section.trim()}\n`).join(''));
  // A kernel-picked port, not a fixed one: test files run in parallel, and a restart
  // must find its port still free.
  const port = await freePort(0);
  await writeConf(port);
  // The test user must exist in the private passdb; smbpasswd reads the password twice from stdin.
  await feed(SMBPASSWD, ['-c', conf, '-a', '-s', SMB_USER], `${SMB_PASSWORD}\n${SMB_PASSWORD}\n`);
  const smbd = new Smbd(dir, conf, port, o.wrap);
  const close = async () => {
    await smbd.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const listen = async () => {
    // A port found free can be taken before smbd binds it (parallel test files): try another.
    for (let attempt = 1; ; attempt++) {
      try {
        await smbd.start();
        return;
      } catch (err) {
        if (attempt === 3) throw err;
        smbd.port = await freePort(0);
        await writeConf(smbd.port);
      }
    }
  };
  return { smbd, close, listen };
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

/**
 * smbd forks one child per connection, which exits on its own soon after the
 * parent; end any left whose command line names our conf, and wait until all
 * are gone, since a dying child still holds the share as its cwd (an unmount
 * right after stop() would fail with EBUSY).
 */
async function killStragglers(conf: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const left = await smbdPids(conf);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`smbd processes ${left.join(' ')} (${conf}) would not exit`);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await sleep(50);
  }
}

async function smbdPids(conf: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    // A zombie has an empty cmdline; it holds no cwd any more.
    if (/(^|\/)smbd/.test(argv[0] ?? '') && argv.includes(conf)) pids.push(Number(name));
  }
  return pids;
}

/** Whether process pid holds a socket listening on TCP port (/proc/net/tcp state 0A, by socket inode). */
async function ownsListener(pid: number, port: number): Promise<boolean> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return false;
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(m[1])) return true;
  }
  return false;
}

/** The preferred port if nothing listens there (0: one the kernel picks). */
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
