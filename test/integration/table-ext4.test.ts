// The table at ext4's real xattr limit. Measured here: ext4 without ea_inode
// keeps all xattrs of an inode in one 4 KiB block (a single ~4000-byte value
// gets ENOSPC); with ea_inode a value may be 64 KiB.
import test from 'ava';
import * as xattr from 'fs-xattr';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain } from '../../lib/cli/main.js';
import { openMapper } from '../../lib/mapper/open.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';

const gate = await canLoop(['ext4']);
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const loopTest = gate.ok ? test.serial : test.skip;

async function setup(t: import('ava').ExecutionContext, mkfsArgs: string[] = []) {
  const base = await mkdtemp(join(tmpdir(), 'stableid-ext4-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const imgs = await loopImages(t, join(base, 'src'), ['ext4'], { mkfsArgs: { ext4: mkfsArgs }, sizeMiB: 64 });
  const root = imgs.dirs.ext4;
  return { root, stateDir: join(base, 'state'), dev: (await stat(root, { bigint: true })).dev };
}

/** Allocate n prefixes on the root device (ino = i << 48), in batches so writes are grouped. */
async function fill(root: string, stateDir: string, dev: bigint, n: number, log: (m: string) => void): Promise<bigint[]> {
  const m = await openMapper({ root, stateDir, log });
  const ids: bigint[] = [];
  let xattrPrefixes = 0;
  for (let i = 1; i <= n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i + 1) }, (_, k) => m.idFor(dev, (BigInt(i + k) << 48n) | 5n));
    ids.push(...(await Promise.all(batch)));
    if (m.table.mode === 'xattr') xattrPrefixes = ids.length;
  }
  log(`last table held in xattrs: ${xattrPrefixes} prefixes, chunk size accepted ${m.table.xattrs.acceptedChunkSize}`);
  await m.close();
  return ids;
}

loopTest(`plain ext4: the table is chunked to the 4 KiB block, then moves to the state file with a marker; 3000 prefixes reload${why}`, async (t) => {
  const { root, stateDir, dev } = await setup(t);
  const logs: string[] = [];
  const ids = await fill(root, stateDir, dev, 3000, (m) => logs.push(m));
  t.log(logs.filter((l) => /last table|moved/.test(l)).join('\n'));
  t.regex(logs.join('\n'), /table: moved to state file .*\.table \(cannot write user\.stableid\.[ab]\.0 on .*: ENOSPC /);
  const names = (await xattr.listAttributes(root)).filter((n) => n.startsWith('user.stableid.'));
  t.true(names.length >= 1, 'the marker (and the last xattr generation) stay on the root');
  const m = await openMapper({ root, stateDir });
  t.regex(m.table.source, /^state file /);
  for (let i = 0; i < ids.length; i += 97) t.is(await m.idFor(dev, (BigInt(i + 1) << 48n) | 5n), ids[i]!);
  t.is(m.tableData.prefixes.length, 3000);
  await m.close();
  // Another --state-dir: the marker on the root still leads to the state file that holds the table.
  const other = await openMapper({ root, stateDir: join(stateDir, 'elsewhere') });
  t.is(other.tableData.prefixes.length, 3000);
  t.regex(other.table.source, new RegExp(`^state file ${stateDir}/`));
  await other.close();
  let out = '';
  t.is(await runMain(['table', 'verify', root, '--state-dir', stateDir], { io: { out: (s) => void (out += s), err: (s) => void (out += s) } }), 0, out);
});

loopTest(`ext4 with ea_inode keeps thousands of prefixes in xattrs, in several chunks${why}`, async (t) => {
  const { root, stateDir, dev } = await setup(t, ['-O', 'ea_inode']);
  const logs: string[] = [];
  const ids = await fill(root, stateDir, dev, 9000, (m) => logs.push(m));
  t.false(logs.some((l) => /moved to/.test(l)), logs.join('\n'));
  const names = (await xattr.listAttributes(root)).filter((n) => /^user\.stableid\.[ab]\.\d+$/.test(n));
  t.true(names.filter((n) => n.startsWith('user.stableid.a.')).length >= 2, `several chunks per slot: ${names.join(' ')}`);
  const m = await openMapper({ root, stateDir });
  t.regex(m.table.source, /^xattrs /);
  t.is(m.tableData.prefixes.length, 9000);
  for (let i = 0; i < ids.length; i += 301) t.is(await m.idFor(dev, (BigInt(i + 1) << 48n) | 5n), ids[i]!);
  await m.close();
});
