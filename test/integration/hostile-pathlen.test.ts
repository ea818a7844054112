// Path length through the mount (issue 8; pjdfstest's */03 tests): create,
// stat, chmod, chown, truncate, link, rename, unlink, mkdir, rmdir, symlink
// and mkfifo on a path of PATH_MAX-1 bytes (a tree of 255-byte names) and of
// PATH_MAX bytes, then a tree deeper than PATH_MAX reached by chdir. Every
// step must give exactly what it gives on a raw directory: success for
// PATH_MAX-1, ENAMETOOLONG for PATH_MAX, success beyond PATH_MAX by chdir.
//
// On main this fails: the server joins SRC and the client's path into one
// string longer than PATH_MAX, so the deep steps get ENAMETOOLONG.
import test, { type ExecutionContext } from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { canMount, tempDir } from '../helpers/mount-fixture.js';
import { hostileMount } from '../helpers/hostile-mount.js';
import { attack } from '../helpers/hostile-user.js';
import { verdict } from '../helpers/hostile-verdict.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

/** rm -rf in a child: it walks with *at calls, so a tree deeper than PATH_MAX goes too (fs.rm does not). */
function deepClean(t: ExecutionContext, dir: string): void {
  t.teardown(async () => {
    await run('rm', ['-rf', dir], { timeoutMs: 30_000 });
  });
}

serial(`paths of PATH_MAX-1 bytes work through the mount, and ENAMETOOLONG comes exactly where the raw directory gives it${why}`, async (t) => {
  const raw = join(await tempDir(t, 'stableid-hostile-raw-'), 'raw');
  await mkdir(raw);
  deepClean(t, raw);
  const h = await hostileMount(t, { layout: { files: [], dirFiles: [] } });
  await mkdir(join(h.src, 't'));
  deepClean(t, join(h.src, 't'));

  const onRaw = (await attack('root', 'pathlen', [raw])).report.notes.steps as [string, string][];
  const onMount = (await attack('root', 'pathlen', [join(h.mnt, 't')])).report.notes.steps as [string, string][];
  // The reference itself: PATH_MAX-1 works, PATH_MAX is too long, chdir goes deeper.
  const rawOf = new Map(onRaw);
  t.is(rawOf.get('create PATH_MAX-1'), 'ok');
  t.is(rawOf.get('create PATH_MAX'), 'ENAMETOOLONG');
  t.is(rawOf.get('create beyond PATH_MAX'), 'ok');
  const differ = onMount.filter(([step, outcome], i) => onRaw[i]?.[0] !== step || onRaw[i]?.[1] !== outcome).map(([step, outcome]) => `${step}: mount ${outcome}, raw ${rawOf.get(step)}`);
  if (onMount.length !== onRaw.length) differ.push(`${onMount.length} steps ran on the mount, ${onRaw.length} on the raw directory`);
  await verdict(t, { canaries: h.canaries, alive: h.alive, more: differ });
});
