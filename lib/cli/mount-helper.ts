// mount(8)'s helper for `-t fuse.stableid` (bin/mount.fuse.stableid), and the
// same through fuse3's mount.fuse3, which runs `stableid SRC MNT -o OPTS`.
// It starts the server detached (its own session, cwd /, stdin closed,
// stdout and stderr appended to the log file), waits until the mount answers
// and exits 0, so mount(8) returns with the filesystem in place; `umount MNT`
// later ends the server. A start that fails exits 32 (mount(8)'s "mount
// failure") with the server's one-line reason on stderr, which mount(8) shows.
//
// mount(8) calls: mount.fuse.stableid SRC MNT [-sfnvrw] [-N NS] [-o OPTIONS] [-t fuse.stableid]
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OptionError } from '../fuse/options.js';
import { splitFstabOptions } from './fstab-options.js';
import { type Io, processIo } from './io.js';

export const DEFAULT_LOG = '/var/log/stableid.log';
/** mount(8): "mount failure"; 1 is "incorrect invocation". */
export const EX_MOUNT_FAILED = 32;
const EX_USAGE = 1;

export interface HelperArgs {
  src: string;
  mnt: string;
  options: string[];
  /** -f: mount(8)'s fake mode, do everything but mount. */
  fake: boolean;
  verbose: boolean;
  /** -N: mount in another namespace (not supported). */
  namespace?: string;
}

const USAGE = 'usage: mount.fuse.stableid SRC MNT [-sfnvrw] [-o OPTIONS] (as mount -t fuse.stableid SRC MNT -o OPTIONS calls it)';

export function parseHelperArgv(argv: string[]): HelperArgs {
  const positional: string[] = [];
  const out: HelperArgs = { src: '', mnt: '', options: [], fake: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '-t' || a === '-N') {
      const v = argv[++i];
      if (v === undefined) throw new OptionError(`${a} needs a value; ${USAGE}`);
      if (a === '-o') out.options.push(v);
      if (a === '-N') out.namespace = v;
      if (a === '-t' && v !== 'fuse.stableid' && v !== 'stableid') throw new OptionError(`-t ${v}: this helper mounts fuse.stableid only`);
    } else if (a.startsWith('-o') && a.length > 2) out.options.push(a.slice(2));
    else if (/^-[sfnvrw]+$/.test(a)) {
      // -s (sloppy) and -n (no mtab) change nothing here.
      if (a.includes('f')) out.fake = true;
      if (a.includes('v')) out.verbose = true;
      if (a.includes('r')) out.options.push('ro');
      if (a.includes('w')) out.options.push('rw');
    } else if (a.startsWith('-') && a !== '-') throw new OptionError(`unknown flag ${a}; ${USAGE}`);
    else positional.push(a);
  }
  if (positional.length !== 2) throw new OptionError(USAGE);
  [out.src, out.mnt] = positional as [string, string];
  return out;
}

/** fuse3's mount.fuse3 runs the subtype as a program: `stableid SRC MNT -o OPTS`. No command of ours has a '/' in its name. */
export function isMountFuseCall(argv: string[]): boolean {
  return argv.length >= 2 && argv[0]!.includes('/') && !argv[0]!.startsWith('-');
}

export interface HelperDeps {
  io: Io;
  /** The server's entry (bin/stableid-mount of this package). */
  serverBin: string;
  env: NodeJS.ProcessEnv;
}

const defaultDeps = (): HelperDeps => ({
  io: processIo,
  serverBin: fileURLToPath(new URL('../../../bin/stableid-mount', import.meta.url)),
  env: process.env,
});

export async function runMountHelper(argv: string[], deps: HelperDeps = defaultDeps()): Promise<number> {
  const { io } = deps;
  let args: HelperArgs;
  let log: string;
  try {
    args = parseHelperArgv(argv);
    log = splitFstabOptions(args.options).log ?? DEFAULT_LOG;
  } catch (err) {
    io.err(`stableid: ${(err as Error).message}`);
    return EX_USAGE;
  }
  if (args.namespace !== undefined) {
    io.err(`stableid: mount -N (another namespace) is not supported: run mount inside the namespace (nsenter -m -t PID mount ...)`);
    return EX_MOUNT_FAILED;
  }
  if (args.fake) return 0;
  // The server's cwd is /, so relative paths mean what they meant here.
  const src = resolve(args.src);
  const mnt = resolve(args.mnt);
  let logFd: number;
  try {
    mkdirSync(dirname(log), { recursive: true, mode: 0o755 });
    logFd = openSync(log, 'a', 0o640);
  } catch (err) {
    io.err(`stableid: cannot open the log ${log}: ${(err as Error).message} (name another with -o log=FILE)`);
    return EX_MOUNT_FAILED;
  }
  const serverArgs = [deps.serverBin, src, mnt, '--ready-fd', '3', '--log-file', log, ...args.options.flatMap((o) => ['-o', o])];
  // A service that runs mount(8) must not hear from our server: READY goes through the pipe.
  const env = { ...deps.env };
  delete env.NOTIFY_SOCKET;
  const child = spawn(process.execPath, serverArgs, { cwd: '/', detached: true, env, stdio: ['ignore', logFd, logFd, 'pipe'] });
  closeSync(logFd);
  const exited = new Promise<string>((resolve) => {
    child.on('error', (err) => resolve(`cannot start ${process.execPath}: ${err.message}`));
    child.on('exit', (code, signal) => resolve(`the server exited (${signal ?? `code ${code}`}) before ${mnt} was ready; see ${log}`));
  });
  // The pipe carries one line, "READY" or "FAIL <reason>"; it ends without one only if the server died first.
  const line = await new Promise<string | undefined>((done) => {
    let text = '';
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) done(text.slice(0, text.indexOf('\n')));
    });
    pipe.on('error', () => done(undefined));
    pipe.on('close', () => done(undefined));
  });
  const outcome = line === 'READY' ? { ok: true as const } : { ok: false as const, reason: line?.startsWith('FAIL ') ? line.slice(5) : await exited };
  (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
  if (!outcome.ok) {
    // The server exits right after saying why; wait for that (briefly), so that
    // when mount(8) returns nothing of this start is left running.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    io.err(`stableid: ${outcome.reason}`);
    return EX_MOUNT_FAILED;
  }
  child.unref();
  if (args.verbose) io.out(`stableid: serving ${src} at ${mnt} (pid ${child.pid}, log ${log})`);
  return 0;
}
