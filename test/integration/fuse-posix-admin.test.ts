// Issue 12, what the operator asks for: -o dev makes device nodes on the
// mount usable (as root; FUSE mounts are nodev by default), and a second
// start on a served SRC says how to get a second view, which then works.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture, serverCommand } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (${gate.reason})`;

const sh = (script: string, ...args: string[]) => run('sh', ['-c', script, 'sh', ...args], { timeoutMs: 20_000 });
// mknod /dev/null and /dev/zero twins, write to one and read from the other.
const DEVICES = 'mknod "$1/null" c 1 3 && mknod "$1/zero" c 1 5 && echo x > "$1/null" && head -c 4 "$1/zero" | od -An -tx1';

serial(`-o dev: device nodes made on the mount work; without it they are refused as on any nodev mount${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['dev'] });
  const r = await sh(DEVICES, fx.mnt);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), '00 00 00 00');
  const plain = await mountFixture(t);
  const refused = await sh(DEVICES, plain.mnt);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Permission denied/);
});

serial(`a second start on a served SRC is refused, saying to bind-mount the first mountpoint; that view shows the same ids${why}`, async (t) => {
  const fx = await mountFixture(t);
  await sh('echo data > "$1/f"', fx.src);
  const other = join(fx.dir, 'other');
  await mkdir(other);
  const [cmd, args] = serverCommand('cli', fx.src, other);
  const second = await run(cmd, args, { timeoutMs: 20_000 });
  t.is(second.code, 1);
  t.regex(second.stderr, /already served by another stableid \(pid \d+\).*bind-mount the first one's mountpoint: mount --bind MOUNTPOINT DIR/);
  t.is((await run('mount', ['--bind', fx.mnt, other])).code, 0);
  t.teardown(() => run('umount', ['-l', other]).then(() => undefined));
  const ids = await sh('stat -c %i "$1/f" "$2/f"', fx.mnt, other);
  const [a, b] = ids.stdout.trim().split('\n');
  t.is(a, b);
  t.is((await sh('cat "$1/f"', other)).stdout, 'data\n');
});
