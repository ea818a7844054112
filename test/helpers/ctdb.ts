// A real two-node CTDB (Debian ctdb 4.17) on one machine: one ctdbd per
// cluster node (ClusterNode: its own mount namespace), on 127.0.0.1, 127.0.0.2
// ..., each with its own CTDB_BASE (config, nodes file, run dir with the
// socket smbd talks to, databases) and CTDB_TEST_MODE=yes, which makes ctdbd
// take its paths from CTDB_BASE instead of /etc/ctdb and /var/lib/ctdb. The
// cluster lock (recovery lock) is a file at the same path in every node, on
// the cluster filesystem each node mounted there. No event scripts are
// enabled: the test starts smbd itself once the node is OK.
//
//   const c = await startCtdb(work, [a, b], join(lockMnt, 'reclock'));
//   await c.waitAllOk();                            // `ctdb status`: every node OK
//   c.socket(0)                                     // "ctdbd socket =" for node 0's smbd
//   await c.stop();
//
// ctdbd listens on the fixed port 4379: one such cluster per machine at a time
// (the cluster tests also hold the glusterd lock, gluster.ts).
import { type ChildProcess } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterNode } from './cluster-node.js';
import { quote } from './cluster-node.js';
import { run } from './run.js';

const CTDBD = '/usr/sbin/ctdbd';
const CTDB = '/usr/bin/ctdb';

export async function canCtdb(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'ctdbd needs root' };
  for (const bin of [CTDBD, CTDB, '/usr/libexec/ctdb/ctdb_mutex_fcntl_helper'])
    if (!(await access(bin).then(() => true, () => false))) return { ok: false, reason: `no ${bin} (apt-get install ctdb)` };
  return { ok: true };
}

export interface Ctdb {
  /** Node i's CTDB_BASE. */
  base(i: number): string;
  /** Node i's ctdbd socket (smb.conf `ctdbd socket =`). */
  socket(i: number): string;
  /** Run the ctdb tool against node i's ctdbd, in its node; rejects unless it exits 0. */
  ctdb(i: number, args: string[]): Promise<string>;
  /** Wait until `ctdb status` on every node lists every node OK; returns the last status text. */
  waitAllOk(timeoutMs?: number): Promise<string[]>;
  /** ctdbd's own output (stderr, --interactive), for failure messages. */
  log(i: number): string;
  /** Stop node i's ctdbd (SIGTERM, SIGKILL after 15 s), as a node leaving the cluster. */
  stopNode(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startCtdb(work: string, nodes: ClusterNode[], clusterLock: string): Promise<Ctdb> {
  const ps = await run('pgrep', ['-x', 'ctdbd']);
  if (ps.code === 0) throw new Error(`a ctdbd not started by this test runs already (pid ${ps.stdout.trim()}) and owns port 4379: stop it`);
  const addr = (i: number) => `127.0.0.${i + 1}`;
  const bases = nodes.map((n) => join(work, `ctdb-${n.name}`));
  for (const [i, base] of bases.entries()) {
    for (const d of ['run', 'var', 'db/volatile', 'db/persistent', 'db/state', 'events/legacy']) await mkdir(join(base, d), { recursive: true });
    await writeFile(join(base, 'nodes'), nodes.map((_, j) => addr(j)).join('\n') + '\n');
    await writeFile(
      join(base, 'ctdb.conf'),
      `[logging]
	log level = NOTICE
[cluster]
	cluster lock = ${clusterLock}
	node address = ${addr(i)}
[database]
	volatile database directory = ${base}/db/volatile
	persistent database directory = ${base}/db/persistent
	state database directory = ${base}/db/state
`,
    );
  }
  const env = (i: number) => ({ ...process.env, CTDB_BASE: bases[i]!, CTDB_TEST_MODE: 'yes' });
  const logs = nodes.map(() => '');
  const children: (ChildProcess | undefined)[] = nodes.map((n, i) => {
    // --interactive: in the foreground (our child, killed by pid), logging to stderr.
    const c = n.spawn(CTDBD, ['--interactive'], env(i));
    c.stdout!.on('data', (d) => (logs[i] += d));
    c.stderr!.on('data', (d) => (logs[i] += d));
    return c;
  });
  const ctdb = async (i: number, args: string[]) =>
    nodes[i]!.sh(`CTDB_BASE=${quote(bases[i]!)} CTDB_TEST_MODE=yes ${CTDB} ${args.map(quote).join(' ')}`, 20_000);
  const c: Ctdb = {
    base: (i) => bases[i]!,
    socket: (i) => join(bases[i]!, 'run', 'ctdbd.socket'),
    ctdb,
    log: (i) => logs[i]!,
    async waitAllOk(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const texts = await Promise.all(nodes.map((_, i) => ctdb(i, ['status']).catch((e: Error) => e.message)));
        const ok = texts.every((s) => nodes.every((_, j) => new RegExp(`^pnn:${j} ${addr(j).replace(/\./g, '\\.')}\\s+OK\\b`, 'm').test(s)));
        if (ok) return texts;
        const dead = children.findIndex((ch) => ch && ch.exitCode !== null);
        if (dead >= 0 || Date.now() > deadline)
          throw new Error(`ctdb nodes not all OK${dead >= 0 ? ` (ctdbd on node ${nodes[dead]!.name} exited)` : ''}:\n${texts.join('\n')}\n${logs.map((l) => l.slice(-1500)).join('\n')}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async stopNode(i) {
      const ch = children[i];
      children[i] = undefined;
      if (!ch || ch.exitCode !== null) return;
      const exited = new Promise((r) => ch.once('exit', r));
      ch.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]))) {
        ch.kill('SIGKILL');
        await exited;
      }
    },
    async stop() {
      await Promise.all(nodes.map((_, i) => c.stopNode(i)));
      // ctdbd's helpers (ctdb-eventd, the cluster lock's ctdb_mutex_fcntl_helper) watch their parent
      // and exit after it; wait for ours (named by our CTDB_BASE or lock path) so the lock's mount can go.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const left = (await run('pgrep', ['-f', `ctdb_mutex_fcntl_helper ${clusterLock}`])).stdout.split('\n').filter(Boolean);
        if (left.length === 0 || Date.now() > deadline) {
          for (const pid of left) process.kill(Number(pid), 'SIGKILL');
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
  return c;
}
