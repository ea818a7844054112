// Real filesystems for tests: ext4 and xfs images, loop-attached and mounted
// under subdirectories of a source dir, with one file of EQUAL inode number on
// each (the case that breaks raw-inode exports).
//
//   const gate = await canLoop();              // { ok: false, reason } when not root etc.
//   const imgs = await loopImages(t, src, ['ext4', 'xfs']);
//   imgs.dirs.ext4, imgs.dirs.xfs             // mount points: src/ext4, src/xfs
//   imgs.collidingIno                         // bigint, same st_ino on both
//   imgs.collidingFiles.ext4, ...xfs          // absolute paths of those two files
//   await imgs.reattachReversed();            // unmount, detach, re-attach in the other
//                                             // order (st_dev numbers swap), remount
//
// Teardown (registered with t.teardown before anything is made) always
// unmounts (lazily if busy) and detaches, even when the test fails.
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFileLock } from './file-lock.js';

export type FsKind = 'ext4' | 'xfs';

export interface LoopImageOptions {
  /** Extra mkfs arguments per kind, e.g. { ext4: ['-O', 'ea_inode'] }. */
  mkfsArgs?: Partial<Record<FsKind, string[]>>;
  /** Image size in MiB (xfs needs at least 300). */
  sizeMiB?: number;
}

export interface LoopImages {
  dirs: Record<FsKind, string>;
  /** Loop device now backing each kind (changes after reattachReversed). */
  devices: Record<FsKind, string>;
  collidingIno: bigint;
  collidingFiles: Record<FsKind, string>;
  reattachReversed(): Promise<void>;
}

export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Whether loop images can be made here, and why not. */
export async function canLoop(kinds: FsKind[] = ['ext4', 'xfs']): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root for losetup and mount' };
  try {
    await access('/dev/loop-control');
  } catch {
    return { ok: false, reason: 'no /dev/loop-control' };
  }
  for (const tool of ['losetup', ...kinds.map((k) => `mkfs.${k}`)]) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return { ok: false, reason: `${tool} not installed` };
    }
  }
  return { ok: true };
}

export async function loopImages(t: ExecutionContext, src: string, kinds: FsKind[] = ['ext4', 'xfs'], opts: LoopImageOptions = {}): Promise<LoopImages> {
  const work = await mkdtemp(join(tmpdir(), 'stableid-img-'));
  const mounted = new Map<FsKind, string>(); // kind -> mount point
  const attached = new Map<FsKind, string>(); // kind -> /dev/loopN
  const images = {} as Record<FsKind, string>;
  const dirs = {} as Record<FsKind, string>;

  const unmountAll = async () => {
    for (const [kind, dir] of mounted) {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]).catch(() => undefined));
      mounted.delete(kind);
    }
    for (const [kind, dev] of attached) {
      await run('losetup', ['-d', dev]).catch(() => undefined);
      attached.delete(kind);
    }
  };
  t.teardown(async () => {
    await unmountAll();
    await rm(work, { recursive: true, force: true });
  });

  const attach = async (kind: FsKind, want?: string) => {
    let dev: string | undefined;
    if (want) dev = await run('losetup', [want, images[kind]]).then(() => want, () => undefined);
    dev ??= (await run('losetup', ['-f', '--show', images[kind]])).trim();
    attached.set(kind, dev);
    // A loop device just (re)attached may not show its new backing file to
    // mount(8) at once when other tests attach devices too ("wrong fs type"):
    // give it a moment, a few times, before calling it a failure.
    for (let tries = 1; ; tries++) {
      try {
        await run('mount', [dev, dirs[kind]]);
        break;
      } catch (err) {
        if (tries >= 6 || !/wrong fs type|bad superblock/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 250 * tries));
      }
    }
    mounted.set(kind, dirs[kind]);
  };

  for (const kind of kinds) {
    images[kind] = join(work, `${kind}.img`);
    dirs[kind] = join(src, kind);
    await mkdir(dirs[kind], { recursive: true });
    await writeFile(images[kind], '');
    await run('truncate', ['-s', `${opts.sizeMiB ?? 320}M`, images[kind]]);
    const args = kind === 'ext4' ? ['-q', '-F', '-b', '4096'] : ['-q', '-f'];
    await run(`mkfs.${kind}`, [...args, ...(opts.mkfsArgs?.[kind] ?? []), images[kind]], 120_000);
    await withLoopLock(() => attach(kind));
  }

  const collide = await makeCollidingFiles(dirs, kinds);
  const images_: LoopImages = {
    dirs,
    devices: Object.fromEntries(attached) as Record<FsKind, string>,
    collidingIno: collide.ino,
    collidingFiles: collide.files,
    async reattachReversed() {
      const before = kinds.map((k) => attached.get(k)!);
      // Test files run in parallel: under the lock, no other test's `losetup -f`
      // can take the devices we free before we take them back swapped.
      await withLoopLock(async () => {
        await unmountAll();
        // Re-attach in the other order, each onto the device the other had, so st_dev numbers swap.
        const order = [...kinds].reverse();
        for (let i = 0; i < order.length; i++) await attach(order[i]!, before[i]);
      });
      Object.assign(images_.devices, Object.fromEntries(attached));
    },
  };
  return images_;
}

/**
 * Make one file on every filesystem with the same inode number. Inode
 * allocators are deterministic on a fresh filesystem (ext4 counts up from 12,
 * xfs starts near 131 on a small image), so create files on each until a
 * number appears on all, then keep just those as same-ino.txt.
 */
async function makeCollidingFiles(dirs: Record<FsKind, string>, kinds: FsKind[]): Promise<{ ino: bigint; files: Record<FsKind, string> }> {
  const made = new Map<FsKind, Map<bigint, string>>(kinds.map((k) => [k, new Map()]));
  for (let n = 0; n < 4000; n++) {
    for (const kind of kinds) {
      const p = join(dirs[kind], `fill-${n}`);
      await writeFile(p, `${kind} ${n}\n`);
      made.get(kind)!.set((await stat(p, { bigint: true })).ino, p);
    }
    const first = made.get(kinds[0]!)!;
    for (const ino of first.keys()) {
      if (kinds.every((k) => made.get(k)!.has(ino))) {
        const files = {} as Record<FsKind, string>;
        for (const kind of kinds) {
          files[kind] = join(dirs[kind], 'same-ino.txt');
          await rename(made.get(kind)!.get(ino)!, files[kind]);
          for (const [other, p] of made.get(kind)!) if (other !== ino) await rm(p);
        }
        return { ino, files };
      }
    }
  }
  throw new Error(`no common inode number after 4000 files on each of ${kinds.join(', ')}`);
}

const LOCK = join(tmpdir(), 'stableid-test-loop.lock');

/** Every loop attach runs under one lock across test processes. */
export function withLoopLock<T>(fn: () => Promise<T>): Promise<T> {
  return withFileLock(LOCK, 120_000, fn);
}
