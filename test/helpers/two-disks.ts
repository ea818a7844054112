// A source directory that spans two loop-mounted ext4 images whose files have
// equal inode numbers (a fresh ext4 gives its first file inode 12), so the
// Samba tests can show what a share over several disks does to FileIds.
// Detached in t.teardown, even on failure. (Kept small on purpose: the shared
// loop-image helper covers ext4 + xfs for the table tests.)
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const run = promisify(execFile);

export interface TwoDisks {
  /** The source directory: top.txt on the root filesystem, disk-a/ and disk-b/ loop mounts. */
  src: string;
  /** Files that sit on the two images at the same inode number. */
  colliding: [string, string];
  /** Unmount both, detach, and attach each image at the loop device the other had. */
  swap(): Promise<void>;
}

interface Disk {
  name: string;
  image: string;
  loop: string;
}

export async function canLoopMount(): Promise<{ ok: boolean; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'loop mounts need root' };
  try {
    await run('losetup', ['--version'], { timeout: 10_000 });
    await run('mkfs.ext4', ['-V'], { timeout: 10_000 });
  } catch {
    return { ok: false, reason: 'no losetup or mkfs.ext4 (apt-get install util-linux e2fsprogs)' };
  }
  return { ok: true, reason: '' };
}

export async function twoDisks(t: ExecutionContext): Promise<TwoDisks> {
  const base = await mkdtemp(join(tmpdir(), 'stableid-disks-'));
  const src = join(base, 'src');
  await mkdir(src);
  await writeFile(join(src, 'top.txt'), 'on the root filesystem\n');
  const disks: Disk[] = [];
  const mounted = new Set<string>();
  const mountAll = async () => {
    for (const d of disks) {
      await run('mount', [d.loop, join(src, d.name)], { timeout: 30_000 });
      mounted.add(d.name);
    }
  };
  const unmountAll = async () => {
    for (const d of disks)
      if (mounted.has(d.name)) {
        await run('umount', [join(src, d.name)], { timeout: 30_000 });
        mounted.delete(d.name);
      }
  };
  t.teardown(async () => {
    for (const d of disks) {
      if (mounted.has(d.name)) await run('umount', ['-l', join(src, d.name)]).catch(() => undefined);
      if (d.loop) await run('losetup', ['-d', d.loop]).catch(() => undefined);
    }
    await rm(base, { recursive: true, force: true });
  });
  for (const name of ['disk-a', 'disk-b']) {
    const image = join(base, `${name}.img`);
    await run('truncate', ['-s', '32M', image]);
    await run('mkfs.ext4', ['-q', '-F', image], { timeout: 60_000 });
    await mkdir(join(src, name));
    const d: Disk = { name, image, loop: '' };
    d.loop = (await run('losetup', ['--find', '--show', image], { timeout: 30_000 })).stdout.trim();
    disks.push(d);
  }
  await mountAll();
  for (const d of disks) {
    await writeFile(join(src, d.name, 'f.txt'), `on ${d.name}\n`);
    await mkdir(join(src, d.name, 'sub'));
    await writeFile(join(src, d.name, 'sub', 'g.txt'), `deeper on ${d.name}\n`);
  }
  return {
    src,
    colliding: ['disk-a/f.txt', 'disk-b/f.txt'],
    async swap() {
      await unmountAll();
      const [a, b] = disks;
      for (const d of disks) await run('losetup', ['-d', d.loop], { timeout: 30_000 });
      [a.loop, b.loop] = [b.loop, a.loop];
      // Attach b first: the images come back in the other order, each at the
      // device number the other one had, as after a reboot that probes disks
      // in another order.
      for (const d of [b, a]) await run('losetup', [d.loop, d.image], { timeout: 30_000 });
      await mountAll();
    },
  };
}
