// REVIEW: an unprivileged user on the allow_other mount must not reach
// root's files through xattr names the kernel may pass on unchecked
// (system.posix_acl_access on a file they do not own, trusted.*,
// security.capability). Expected to pass.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.serial.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const UID = 64234;

serial(`review: xattr and ACL changes by a non-owner never reach the source${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755);
  await mkdir(join(fx.src, 'd'), { mode: 0o777 });
  await chmod(join(fx.src, 'd'), 0o777);
  const secret = join(fx.src, 'd/secret');
  await writeFile(secret, 'root only');
  await chmod(secret, 0o600);
  const as = (cmd: string[]) => run('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', ...cmd], { timeoutMs: 10_000 });
  const m = join(fx.mnt, 'd/secret');
  const tries = [
    ['setfacl', '-m', `u:${UID}:rw`, m],
    ['setfattr', '-n', 'trusted.x', '-v', '1', m],
    ['setfattr', '-n', 'security.capability', '-v', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=', m],
    ['setfattr', '-n', 'user.x', '-v', '1', m],
  ];
  for (const cmd of tries) {
    const r = await as(cmd);
    t.log(cmd.join(' '), '->', r.code, r.stderr.trim());
    t.not(r.code, 0, `${cmd.join(' ')} succeeded`);
  }
  const acl = await run('getfacl', ['-p', secret]);
  t.notRegex(acl.stdout, new RegExp(`user:${UID}`), 'no ACL entry for the attacker on the source');
  const xa = await run('getfattr', ['-d', '-m', '-', secret]);
  t.notRegex(xa.stdout, /trusted\.x|security\.capability|user\.x/);
  t.is((await as(['cat', m])).stdout, '', 'still unreadable');
  t.is(await readFile(secret, 'utf8'), 'root only');
});
