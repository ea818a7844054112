// A private mount namespace in which mount(8) finds this checkout's
// mount.fuse.stableid (and `stableid`, for mount.fuse3) as if installed, and
// whatever is mounted stays invisible to the rest of the machine. Commands run
// in it through nsenter, as children with timeouts (test/helpers/run.ts).
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { run, type RunOptions, type RunResult, Started } from './run.js';

export const repoRoot = resolve(new URL('../../..', import.meta.url).pathname);
export const binDir = join(repoRoot, 'bin');

export interface NamespaceOptions {
  /** Install bin/mount.fuse.stableid as /sbin/mount.fuse.stableid (default true). */
  helper?: boolean;
  /** Install bin/stableid and bin/stableid-mount into /usr/local/bin (default true). */
  localBin?: boolean;
}

export class MountNamespace {
  private constructor(
    private readonly holder: Started,
    private readonly dir: string,
  ) {}

  static async create(t: ExecutionContext, opts: NamespaceOptions = {}): Promise<MountNamespace> {
    const dir = await mkdtemp(join(tmpdir(), 'admin-ns-'));
    const overlays: Record<string, string> = {};
    if (opts.helper ?? true) {
      await mkdir(join(dir, 'sbin'));
      await symlink(join(binDir, 'mount.fuse.stableid.js'), join(dir, 'sbin', 'mount.fuse.stableid'));
      overlays['/usr/sbin'] = join(dir, 'sbin');
    }
    if (opts.localBin ?? true) {
      await mkdir(join(dir, 'bin'));
      for (const name of ['stableid', 'stableid-mount']) await symlink(join(binDir, name), join(dir, 'bin', name));
      overlays['/usr/local/bin'] = join(dir, 'bin');
    }
    const holder = new Started('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, join(repoRoot, 'dist/test/helpers/ns-holder.js'), JSON.stringify({ overlays, keep: [tmpdir(), repoRoot] })], undefined, { stdin: 'pipe' });
    const ns = new MountNamespace(holder, dir);
    t.teardown(() => ns.close());
    await holder.waitFor(/^ready$/m, 20_000);
    return ns;
  }

  get pid(): number {
    return this.holder.pid;
  }

  /** Runs cmd inside the namespace. */
  run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('nsenter', ['-t', String(this.holder.pid), '-m', '--', cmd, ...args], opts);
  }

  async ok(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.run(cmd, args, opts);
    if (r.timedOut || r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in the namespace): ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** The namespace's mount table (its /proc/PID/mountinfo, read without entering it). */
  async mountinfo(): Promise<string> {
    return (await run('cat', [`/proc/${this.holder.pid}/mountinfo`])).stdout;
  }

  async close(): Promise<void> {
    if (this.holder.running) {
      this.holder.child.stdin?.end();
      if (!(await this.holder.exit(10_000))) this.holder.child.kill('SIGKILL');
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
