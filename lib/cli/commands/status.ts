// `stableid status MNT|SRC [--json]`: what the server of a mount (or of an
// export) is doing, asked through its status socket (lib/status/control.ts).
// MNT is found in /proc/self/mountinfo without touching the mount, so a
// stuck server cannot hang this command through its own mountpoint.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { FSTYPE } from '../../fuse/mountinfo.js';
import { MAX_PREFIX } from '../../mapper/mapper.js';
import { readMountinfo } from '../../mountinfo.js';
import { exportStatusName, mountStatusName, queryStatus, StatusQueryError } from '../../status/control.js';
import type { Counts } from '../../status/counters.js';
import type { StatusSnapshot } from '../../status/snapshot.js';
import { isLocked } from '../../table/lock.js';
import type { CommandFactory } from '../context.js';
import { UsageError } from '../io.js';

/** Exit code when nothing serves the path (as `systemctl status` of a stopped unit). */
export const NOT_SERVED = 3;

export async function findStatus(path: string): Promise<StatusSnapshot> {
  const abs = resolve(path);
  const ask = (name: string) =>
    queryStatus(name).catch((err: Error) => {
      throw new UsageError(`${abs}: ${err instanceof StatusQueryError ? err.message : `status socket: ${err.message}`}`, 1);
    });
  const mounted = (await readMountinfo()).filter((m) => m.mountPoint === abs).at(-1);
  if (mounted?.fstype === FSTYPE) {
    const snap = await ask(mountStatusName(abs));
    if (snap) return snap;
    throw new UsageError(
      `${abs} is a stableid mount, but no server answers for it: its server died without unmounting (kill -9?), ` +
        `or runs in another network namespace. A dead mount is cleaned up by the next start on ${abs}, or by umount -l ${abs}`,
      NOT_SERVED,
    );
  }
  // Not a stableid mountpoint: SRC of a server (it may well be a mountpoint of its own, an ext4 disk say).
  const st = await stat(abs, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`${abs}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, 2);
  });
  const snap = await ask(exportStatusName(st.dev, st.ino));
  if (snap) return snap;
  const holder = await isLocked(st.dev, st.ino);
  if (holder) throw new UsageError(`${abs} is served by a stableid (${holder}) that does not answer status (an older version?)`, NOT_SERVED);
  throw new UsageError(`nothing serves ${abs}: it is neither a stableid mountpoint nor the source (SRC) of a running stableid`, NOT_SERVED);
}

export function formatStatus(path: string, s: StatusSnapshot): string {
  const lines = [`${path}: served by pid ${s.pid} since ${s.since.replace(/\.\d+Z$/, 'Z')} (up ${duration(s.uptimeSeconds)}), stableid ${s.version}`];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(7)} ${v}`);
  row('source', s.source);
  if (s.table) row('table', `${s.table.prefixes} of ${MAX_PREFIX} prefixes in use, in ${s.table.where}`);
  for (const f of s.frontends) {
    if (f.kind === 'fuse') row('fuse', `${f.mountpoint}: ${f.openNodes} open nodes, ${requests(f.requests)}`);
    else row('9p', `${f.addresses.join(' ')}: ${f.connections} connection${f.connections === 1 ? '' : 's'}, ${f.openFids} open fids, ${requests(f.requests)}`);
  }
  if (s.log) row('log', s.log);
  return lines.join('\n');
}

function requests(c: Counts): string {
  const top = Object.entries(c.byOp).slice(0, 6).map(([op, n]) => `${op} ${n}`);
  const rest = Object.keys(c.byOp).length > top.length ? ', ...' : '';
  return `${c.total} requests${top.length ? ` (${top.join(', ')}${rest})` : ''}`;
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const statusCommand: CommandFactory = (ctx) => ({
  command: 'status <path>',
  describe: 'which process serves a stableid mount (MNT) or export (SRC), since when, its table, front-ends and request counts',
  builder: (y: Argv) =>
    y
      .positional('path', { type: 'string', describe: 'a stableid mountpoint, or the SRC of a running stableid', demandOption: true })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object (for monitoring); exit 3 when nothing serves PATH' })
      .example('stableid status /srv/stable', 'pid, uptime, table, open nodes and request counters of the mount')
      .example('stableid status /srv/data --json', 'the same, found by SRC, as JSON'),
  handler: async (argv) => {
    const a = argv as unknown as { path: string; json: boolean };
    const snap = await findStatus(a.path);
    ctx.io.out(a.json ? JSON.stringify(snap) : formatStatus(resolve(a.path), snap));
  },
});
