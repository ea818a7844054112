// Loop-mounted ext4 images under a directory: two fresh ext4 filesystems
// give their files the same inode numbers (root 2, lost+found 11, first file
// 12 ...), the collision stable ids exist to resolve. Everything attached is
// detached in teardown, even on failure.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, which } from '../helpers/run.js';

export interface LoopMount {
  dir: string;
  image: string;
  device: string;
}

export async function canLoop(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'loop mounts need root' };
  if (!(await which('mkfs.ext4'))) return { ok: false, reason: 'mkfs.ext4 not found (apt-get install e2fsprogs)' };
  if (!(await which('losetup'))) return { ok: false, reason: 'losetup not found (apt-get install util-linux)' };
  return { ok: true };
}

/** Make, attach and mount one ext4 image per name at `${under}/${name}`; `cleanup` undoes all of it. */
export async function loopMounts(under: string, imagesDir: string, names: string[]): Promise<{ mounts: LoopMount[]; cleanup(): Promise<void> }> {
  const mounts: LoopMount[] = [];
  const cleanup = async () => {
    for (const m of mounts.reverse()) {
      await run('umount', [m.dir]);
      await run('losetup', ['-d', m.device]);
      await rm(m.image, { force: true });
    }
  };
  try {
    for (const name of names) {
      const image = join(imagesDir, `${name}.img`);
      const dir = join(under, name);
      await mkdir(dir, { recursive: true });
      must(await run('truncate', ['-s', '24M', image]), 'truncate');
      must(await run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', image]), 'mkfs.ext4');
      const dev = await run('losetup', ['-f', '--show', image]);
      must(dev, 'losetup');
      const device = dev.stdout.toString().trim();
      mounts.push({ dir, image, device });
      must(await run('mount', ['-t', 'ext4', device, dir]), `mount ${device}`);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { mounts, cleanup };
}

function must(r: { code: number; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.trim()}`);
}
