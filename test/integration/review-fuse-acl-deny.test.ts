// REVIEW (an attacker's reproducer from the security review of the descriptor
// core; failed before the fix named below, passes since).
//
// POSIX ACLs on SRC are not enforced on the mount: the FUSE session does not
// ask for FUSE_POSIX_ACL, so the kernel's default_permissions checks the mode
// bits alone. An entry that denies a user (u:bob:---, or a mask that cuts a
// group entry) is ignored: the user reads through the mount what SRC refuses
// them. Samba shares lean on such ACLs.
//
// Fix suggested (and done): enable FUSE_CAP_POSIX_ACL (the kernel then reads
// system.posix_acl_* through GETXATTR and enforces them) whenever
// default_permissions is on, or refuse to start on a SRC that has ACLs.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run, runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.serial.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const UID = 64235;

serial(`review: an ACL entry that denies a user on SRC also denies them on the mount${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755);
  await chmod(fx.src, 0o755);
  const f = join(fx.src, 'report');
  await writeFile(f, 'not for 64235');
  await chmod(f, 0o644);
  await runOk('setfacl', ['-m', `u:${UID}:---`, f]);
  const as = (cmd: string[]) => run('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', ...cmd], { timeoutMs: 10_000 });
  const direct = await as(['cat', f]);
  t.regex(direct.stderr, /Permission denied/, 'SRC itself refuses the user');
  const via = await as(['cat', join(fx.mnt, 'report')]);
  t.log(`through the mount: code ${via.code} ${via.stdout}${via.stderr}`);
  t.not(via.stdout, 'not for 64235', 'the mount must refuse what SRC refuses');
});
