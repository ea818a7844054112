// A cold start for one file on SRC, for every target, with proof. Cold means
// no page of the file on SRC is cached: every target's reads end there (raw
// directly, bindfs through its server, stableid through the kernel's
// passthrough backing file), so SRC's page cache is the one that counts.
// fio's own invalidate=1 is no substitute: it is a POSIX_FADV_DONTNEED on the
// descriptor fio opened, and on a FUSE file that empties the FUSE inode's
// cache, never SRC's (measured: a DONTNEED through the stableid mount leaves
// all 65536 cached pages of the file on SRC in place).
import { writeFile } from 'node:fs/promises';
import { runOk } from '../../helpers/run.js';

/** Pages of the file in the page cache and its size in pages (fincore, util-linux). */
export async function residentPages(file: string): Promise<{ resident: number; pages: number }> {
  // fincore's PAGES column is the resident count; SIZE in bytes gives the total.
  const out = await runOk('fincore', ['--raw', '--noheadings', '--bytes', '--output', 'PAGES,SIZE', file]).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new Error('fincore not found: the cold rows prove their start with it (Debian package util-linux)') : err;
  });
  const [resident, size] = out.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(resident) || !Number.isFinite(size)) throw new Error(`fincore ${file} printed ${JSON.stringify(out)}; want "PAGES SIZE"`);
  return { resident, pages: Math.ceil(size / 4096) };
}

/**
 * Drops the whole page cache (drop_caches: also SRC's directory entries and
 * inodes) and, to be sure of the file itself, the file's pages on SRC
 * (POSIX_FADV_DONTNEED on SRC's own file: `dd iflag=nocache count=0`).
 * Throws unless no page of it is left, so a cold row is never a warm one.
 */
export async function coldFile(srcFile: string): Promise<{ resident: number; pages: number }> {
  await runOk('sync', []);
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3');
  } catch (err) {
    throw new Error(`cold start: cannot write /proc/sys/vm/drop_caches (${(err as Error).message}): run the benchmark as root`);
  }
  await runOk('dd', [`if=${srcFile}`, 'iflag=nocache', 'count=0', 'status=none']);
  const r = await residentPages(srcFile);
  if (r.resident > 0) throw new Error(`cold start: ${r.resident} of ${r.pages} pages of ${srcFile} still cached after drop_caches and POSIX_FADV_DONTNEED (dirty or mapped pages?)`);
  return r;
}
