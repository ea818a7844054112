// stableid-mount run inside a cluster node (cluster-node.ts) over the node's
// mount of the cluster filesystem, and the ids its kernel client sees, for the
// cluster tests (cluster-gluster, cluster-ctdb).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { type ClusterNode, quote } from './cluster-node.js';
import { REPO } from './mount-fixture.js';

export interface Served {
  node: ClusterNode;
  proc: ChildProcess;
  mnt: string;
  /** stableid-mount's stdout and stderr so far. */
  out: () => string;
}

/** Start stableid-mount SRC MNT in the node; resolves once MNT is a stableid mount there. */
export async function serveStableid(node: ClusterNode, src: string, mnt: string, stateDir: string): Promise<Served> {
  const proc = node.spawn(process.execPath, [join(REPO, 'bin/stableid-mount'), src, mnt, '--state-dir', stateDir]);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 20_000;
  while (!(await node.mounts()).some((m) => m.mountPoint === mnt && m.fstype === 'fuse.stableid')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`stableid-mount on node ${node.name} did not mount: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { node, proc, mnt, out: () => out };
}

/** SIGTERM (SIGKILL after 15 s), then unmount whatever is left at MNT in the node. */
export async function unserveStableid(s: Served): Promise<void> {
  if (s.proc.exitCode === null) {
    const exited = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]))) {
      s.proc.kill('SIGKILL');
      await exited;
    }
  }
  await s.node.unmountUnder(s.mnt);
}

/**
 * Path -> st_ino of everything under MNT, as the node's own kernel client sees
 * it (find in the node, a child process: never the test process on a FUSE mount).
 */
export async function idsUnder(node: ClusterNode, mnt: string): Promise<Map<string, bigint>> {
  const out = await node.sh(`cd ${quote(mnt)} && find . -mindepth 1 -printf '%P\\t%i\\n'`);
  return new Map(out.split('\n').filter(Boolean).map((l) => [l.split('\t')[0]!, BigInt(l.split('\t')[1]!)]));
}

export function sorted(m: Map<string, bigint>): [string, bigint][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
