// Hostile client (issue 8) who can also write SRC directly (a shell user next
// to the share): it takes nodes of its own files through the allow_other
// mount (a held directory fd, its cwd, open file fds), replaces a parent
// directory on SRC by a symlink to a root-owned directory outside SRC, then
// reads, writes, chmods (setuid), sets times and xattrs, truncates, unlinks,
// renames and creates through the mount: right away, and again after the
// kernel's caches expired (held fds, then fresh lookups). Every request must
// act on the user's own files (now under p.moved) or fail; pass: no canary
// changed or read, the mount still answers.
//
// On main this fails: the nodes keep their path strings, which now resolve
// through the symlink, and the server acts on the canaries as root.
import test from 'ava';
import { join } from 'node:path';
import { canMount } from '../helpers/mount-fixture.js';
import { hostileMount } from '../helpers/hostile-mount.js';
import { assertUnprivileged, attack, hostileUser, userDir } from '../helpers/hostile-user.js';
import { verdict } from '../helpers/hostile-verdict.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

const PATH_OPS = ['read', 'write', 'chmod', 'utime', 'xattr', 'truncate', 'unlink', 'rename'];
const NOW = PATH_OPS;
const LATE = PATH_OPS.map((n) => `late-${n}`);
const FDS = ['fchmod', 'futime', 'fxattr', 'ftruncate', 'fwrite', 'fread'];

serial(`a parent swapped for a symlink on SRC: nodes, cwd and held fds keep acting inside SRC${why}`, async (t) => {
  const user = await hostileUser(t); // first: removed after the mount is gone (a hung client of it keeps the user busy)
  // Small caches, so that the second round runs after they expired.
  const h = await hostileMount(t, { layout: { files: [], dirFiles: [...NOW, ...LATE, ...FDS] }, options: ['entry_timeout=0.5', 'attr_timeout=0.5'] });
  await assertUnprivileged(t, user, h.canaries);
  const srcU = await userDir(h.src, 'u', user);
  const { report, raw } = await attack(user, 'src-writer', [join(h.mnt, 'u'), srcU, h.canaries.dir, '1.5', NOW.join(','), LATE.join(','), FDS.join(',')]);
  t.log(JSON.stringify(report.outcomes));
  t.log(`first round took ${String(report.notes.now_seconds)} s (caches: 0.5 s)`);
  await verdict(t, { canaries: h.canaries, alive: h.alive, output: raw.stdout, reports: [report] });
});
