// A raw directory next to a mount's source, and the mount, both open to
// other users: scenarios run on each (as another uid) and are compared.
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { mountFixture } from './mount-fixture.js';

/** options: the mount's -o options, as mountFixture takes them. */
export async function rawPair(t: ExecutionContext, options: string[] = ['allow_other']) {
  const fx = await mountFixture(t, 'fuse', { options });
  await chmod(fx.dir, 0o755);
  const raw = join(fx.dir, 'raw');
  await mkdir(raw, { mode: 0o777 });
  await chmod(raw, 0o777);
  await chmod(fx.src, 0o777);
  return { fx, raw, mnt: fx.mnt };
}
