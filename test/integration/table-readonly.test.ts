// A read-only export root: the table goes to the state file, the log says so,
// and ids survive a restart.
import test from 'ava';
import * as xattr from 'fs-xattr';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openMapper } from '../../lib/mapper/open.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

(root ? test.serial : test.skip)(`read-only root: the table lives in the state file${root ? '' : ' (skipped: needs root for a read-only bind mount)'}`, async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-ro-'));
  const dir = join(base, 'data');
  const ro = join(base, 'ro');
  const stateDir = join(base, 'state');
  await mkdir(dir);
  await mkdir(ro);
  await run('mount', ['--bind', dir, ro]);
  t.teardown(async () => {
    await run('umount', [ro]).catch(() => run('umount', ['-l', ro]).catch(() => undefined));
    await rm(base, { recursive: true, force: true });
  });
  await run('mount', ['-o', 'remount,bind,ro', ro]);
  const dev = (await stat(ro, { bigint: true })).dev;
  const logs: string[] = [];
  let m = await openMapper({ root: ro, stateDir, log: (s) => logs.push(s) });
  t.regex(logs.join('\n'), /new prefixes go to state file .*\.table \(.* is on a read-only filesystem\)/);
  t.regex(logs.join('\n'), /starting a new table\. If this export was served before with another --state-dir, stop now/, 'a first start on a read-only root says what a wrong --state-dir would cost');
  const id = await m.idFor(dev, (3n << 48n) | 9n);
  t.is(id, (1n << 48n) | 9n);
  await m.close();
  t.is((await readdir(stateDir)).filter((f) => f.endsWith('.table')).length, 1);
  t.deepEqual((await xattr.listAttributes(dir)).filter((n) => n.startsWith('user.stableid.')), []);
  m = await openMapper({ root: ro, stateDir });
  t.is(await m.idFor(dev, (3n << 48n) | 9n), id);
  t.regex(m.table.source, /^state file /);
  await m.close();
});

(root ? test.serial : test.skip)(`a root without user xattrs (ramfs: ENOTSUP): the table moves to the state file${root ? '' : ' (skipped: needs root to mount ramfs)'}`, async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-enotsup-'));
  const mnt = join(base, 'ramfs');
  const stateDir = join(base, 'state');
  await mkdir(mnt);
  await run('mount', ['-t', 'ramfs', 'stableid-test', mnt]);
  t.teardown(async () => {
    await run('umount', [mnt]).catch(() => run('umount', ['-l', mnt]).catch(() => undefined));
    await rm(base, { recursive: true, force: true });
  });
  const dev = (await stat(mnt, { bigint: true })).dev;
  const logs: string[] = [];
  let m = await openMapper({ root: mnt, stateDir, log: (s) => logs.push(s) });
  const id = await m.idFor(dev, (2n << 48n) | 4n);
  t.is(id, (1n << 48n) | 4n);
  t.regex(logs.join('\n'), /table: moved to state file .* \(cannot write user\.stableid\.a\.0 on .*: (ENOTSUP|EOPNOTSUPP) /);
  await m.close();
  m = await openMapper({ root: mnt, stateDir });
  t.is(await m.idFor(dev, (2n << 48n) | 4n), id);
  t.regex(m.table.source, /^state file /);
  await m.close();
});
