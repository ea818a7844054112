// A "node" of a test cluster on one machine: its own private mount namespace
// (as CTDB nodes on one host are run), held open by a sleeping process, so
// each node mounts the cluster filesystem at the same path without seeing the
// other's mounts. Commands run in it through nsenter, as child processes with
// timeouts (never from the test process, which must not touch a FUSE mount).
//
//   const a = await ClusterNode.start('a');
//   await a.sh(`mount -t glusterfs ${src} ${dir}`);
//   const srv = a.spawn(process.execPath, [stableidMount, dir, mnt]);
//   await a.close();                                  // unmounts everything it mounted, ends the holder
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseMountinfo } from '../../lib/mountinfo.js';
import { run, type RunResult } from './run.js';

export class ClusterNode {
  private constructor(
    readonly name: string,
    private readonly holder: ChildProcess,
  ) {}

  get pid(): number {
    return this.holder.pid!;
  }

  static async start(name: string): Promise<ClusterNode> {
    // unshare execs sleep inside the new namespace: the holder's pid is the namespace's anchor.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', 'infinity'], { stdio: 'ignore' });
    const node = new ClusterNode(name, holder);
    const deadline = Date.now() + 10_000;
    while ((await readFile(`/proc/${holder.pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] !== 'sleep') {
      if (holder.exitCode !== null || Date.now() > deadline) throw new Error(`node ${name}: unshare --mount did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return node;
  }

  /** cmd and args that run `cmd` inside this node. */
  enter(cmd: string, args: string[]): [string, string[]] {
    return ['nsenter', ['-t', String(this.pid), '-m', '--', cmd, ...args]];
  }

  /** Run a shell script in the node; rejects unless it exits 0 in time. */
  async sh(script: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.shResult(script, timeoutMs);
    if (r.code !== 0) throw new Error(`node ${this.name}: sh -c ${JSON.stringify(script)}: ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  shResult(script: string, timeoutMs = 60_000): Promise<RunResult> {
    const [cmd, args] = this.enter('sh', ['-c', script]);
    return run(cmd, args, { timeoutMs });
  }

  /** A long-running process in the node (nsenter execs it: the pid is the program's own). */
  spawn(cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const [c, a] = this.enter(cmd, args);
    return spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  }

  /** The node's mounts, as its own processes see them. */
  async mounts(): Promise<ReturnType<typeof parseMountinfo>> {
    return parseMountinfo(await readFile(`/proc/${this.pid}/mountinfo`, 'utf8'));
  }

  /** Unmount what is mounted at or under `under` in this node, deepest first (lazily if busy). */
  async unmountUnder(under: string): Promise<void> {
    const ours = (await this.mounts()).filter((m) => m.mountPoint === under || m.mountPoint.startsWith(`${under}/`));
    for (const m of ours.reverse()) {
      const r = await this.shResult(`umount ${quote(m.mountPoint)}`, 30_000);
      if (r.code !== 0) await this.shResult(`umount -l ${quote(m.mountPoint)}`, 30_000);
    }
  }

  async close(under: string): Promise<void> {
    await this.unmountUnder(under).catch(() => undefined);
    if (this.holder.exitCode === null) {
      const exited = new Promise((r) => this.holder.once('exit', r));
      this.holder.kill('SIGKILL');
      await exited;
    }
  }
}

export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
