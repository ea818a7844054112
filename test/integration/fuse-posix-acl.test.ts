// Issue 12, ACLs: the kernel checks POSIX ACLs on the mount (FUSE_POSIX_ACL),
// setfacl's new group bits show at once, and umask applies exactly where a
// local filesystem applies it (not under a default ACL). The scenario
// (fuse-posix-acl.sh) runs as uid 4322 on a raw directory and on the mount;
// the two transcripts must be equal.
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture, REPO } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (${gate.reason})`;
const SCRIPT = join(REPO, 'test/integration/fuse-posix-acl.sh');

async function transcript(dir: string): Promise<string> {
  const setup = await run('sh', [SCRIPT, 'setup', dir], { timeoutMs: 30_000 });
  if (setup.code !== 0) throw new Error(`setup on ${dir}: ${setup.stderr}`);
  const r = await run('setpriv', ['--reuid=4322', '--regid=4322', '--groups=4322,4400', 'sh', SCRIPT, 'user', dir], { timeoutMs: 30_000 });
  return r.stdout + r.stderr;
}

serial(`ACLs: named entries grant access, the mask shows as group bits at once, umask yields to a default ACL, as on the raw directory${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755);
  const raw = join(fx.dir, 'raw');
  await mkdir(raw);
  for (const d of [raw, fx.src]) await chmod(d, 0o777);
  const want = await transcript(raw);
  t.regex(want, /read rootfile: ok/);
  t.regex(want, /shared\/sub drwxrwsr-x/);
  t.is(await transcript(fx.mnt), want);
});
