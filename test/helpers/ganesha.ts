// nfs-ganesha (Debian's 4.3, FSAL VFS) as a real NFSv4 server for tests: on
// loopback only, in the foreground, with its own config, log, pid file and
// recovery directory in a temp dir, NFSv4 only (no rpcbind, NLM, rquota),
// and a short lease and grace period so a restart takes seconds. Stopped by
// pid in teardown. The EXPORT block is the one docs/nfs.md shows.
//
//   const g = await ganesha(t, { exports: [{ id: 1, path: MNT, pseudo: '/stable' }] });
//   g.port; await g.stop(); await g.start(); await g.log();
import type { ExecutionContext } from 'ava';
import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from './exec.js';

export interface GaneshaExport {
  id: number;
  /** The directory exported (the stableid mount, or a raw directory). */
  path: string;
  /** Its name in the NFSv4 namespace: clients mount SERVER:PSEUDO. */
  pseudo: string;
}

export interface GaneshaOptions {
  exports: GaneshaExport[];
  /** NFSv4 lease and grace, seconds (Ganesha's defaults are 60 and 90). */
  lease?: number;
  grace?: number;
}

export interface Ganesha {
  port: number;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  log(): Promise<string>;
}

const VFS_FSAL = '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so';
const FIX = 'apt-get install nfs-ganesha nfs-ganesha-vfs (CI installs .ci/deps.d/nfs.txt)';

/** Whether Ganesha can run here, and why not. */
export async function canGanesha(): Promise<{ ok: true; bin: string } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (Ganesha opens files by handle)' };
  const bin = await which('ganesha.nfsd');
  if (!bin) return { ok: false, reason: `ganesha.nfsd not found: ${FIX}` };
  if (!(await access(VFS_FSAL).then(() => true, () => false))) return { ok: false, reason: `${VFS_FSAL} not found: ${FIX}` };
  return { ok: true, bin };
}

/** The EXPORT block for one exported directory, as docs/nfs.md gives it (test/unit/nfs-docs.test.ts keeps the two equal). */
export function exportBlock(e: GaneshaExport): string {
  return `EXPORT {
    Export_Id = ${e.id};
    Path = "${e.path}";
    Pseudo = "${e.pseudo}";
    Protocols = 4;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL { Name = VFS; }
}
`;
}

function config(o: GaneshaOptions, port: number, recovery: string): string {
  return `# written by test/helpers/ganesha.ts
NFS_CORE_PARAM {
    Protocols = 4;
    NFS_Port = ${port};
    Bind_addr = 127.0.0.1;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
}
NFSV4 {
    Lease_Lifetime = ${o.lease ?? 10};
    Grace_Period = ${o.grace ?? 10};
    RecoveryBackend = fs;
    RecoveryRoot = "${recovery}";
    Only_Numeric_Owners = true;
}
NFS_KRB5 { Active_krb5 = false; }
LOG { Default_Log_Level = EVENT; }
${o.exports.map(exportBlock).join('')}`;
}

/** A free TCP port on loopback (kept for every restart: clients come back to the same port). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export async function ganesha(t: ExecutionContext, o: GaneshaOptions): Promise<Ganesha> {
  const gate = await canGanesha();
  if (!gate.ok) throw new Error(gate.reason);
  const dir = await mkdtemp(join(tmpdir(), 'stableid-ganesha-'));
  const recovery = join(dir, 'recovery');
  await mkdir(recovery);
  const port = await freePort();
  const conf = join(dir, 'ganesha.conf');
  await writeFile(conf, config(o, port, recovery));
  const logFile = join(dir, 'ganesha.log');
  let proc: ChildProcess | undefined;

  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const start = async () => {
    if (proc) throw new Error('ganesha is already running');
    const p = spawn(gate.bin, ['-F', '-f', conf, '-L', logFile, '-p', join(dir, 'ganesha.pid'), '-N', 'NIV_EVENT'], { stdio: 'ignore' });
    proc = p;
    const deadline = Date.now() + 30_000;
    while (!(await accepts(port))) {
      if (p.exitCode !== null || p.signalCode !== null || Date.now() > deadline) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        proc = undefined;
        throw new Error(`ganesha did not come up on port ${port} (exit ${p.exitCode ?? p.signalCode}); ${logFile}:\n${log.split('\n').slice(-30).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  t.teardown(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  await start();
  return { port, dir, start, stop, log: () => readFile(logFile, 'utf8').catch(() => '') };
}
