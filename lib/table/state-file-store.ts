// Chunks kept in a state file, for export roots that cannot hold xattrs
// (read-only, ENOTSUP) or whose xattr space ran out. The file is the chunks of
// one generation, back to back; it is replaced atomically (write a temporary
// file, fsync, rename over, fsync the directory), so the previous generation
// stays whole until the new one is durable.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isCode } from '../errno.js';
import { HEADER_SIZE, TableCorruptError } from './record.js';
import { assembleSlot, type Slot } from './slot.js';
import type { ChunkStore } from './store.js';
import { fsyncPath } from './xattr-store.js';

const FILE_CHUNK = 1 << 20;

export class StateFileStore implements ChunkStore {
  readonly where: string;
  constructor(readonly file: string) {
    this.where = `state file ${file}`;
  }

  async readSlots(): Promise<Slot[]> {
    let buf: Buffer;
    try {
      buf = await readFile(this.file);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return [];
      throw err;
    }
    const raw = new Map<number, Buffer>();
    let o = 0;
    while (o < buf.length) {
      if (buf.length - o < HEADER_SIZE) throw new TableCorruptError(this.file, `truncated: ${buf.length - o} stray bytes at offset ${o}`);
      const len = buf.readUInt32LE(o + 24);
      raw.set(raw.size, buf.subarray(o, Math.min(buf.length, o + HEADER_SIZE + len)));
      o += HEADER_SIZE + len;
    }
    // A file is written whole and renamed into place, so an incomplete slot here is damage, not an interrupted write.
    const slot = assembleSlot(raw, (i) => `${this.file} (chunk ${i})`);
    if (slot.state === 'incomplete') throw new TableCorruptError(this.file, slot.reason);
    return [slot];
  }

  async writeSlot(_generation: bigint, chunks: (maxChunk: number) => Buffer[]): Promise<void> {
    const dir = dirname(this.file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp-${process.pid}`;
    const data = Buffer.concat(chunks(FILE_CHUNK));
    const fh = await open(tmp, 'w', 0o600);
    try {
      // write(2) may write less than asked on a nearly full filesystem without
      // failing: loop, then read the file back before it replaces the last good one.
      for (let o = 0; o < data.length; ) {
        const { bytesWritten } = await fh.write(data, o, data.length - o, o);
        if (bytesWritten <= 0) throw Object.assign(new Error(`short write to ${tmp}`), { code: 'ENOSPC' });
        o += bytesWritten;
      }
      await fh.sync();
      const back = await readFile(tmp);
      if (!back.equals(data)) throw Object.assign(new Error(`${tmp} reads back ${back.length} of ${data.length} bytes differently`), { code: 'EIO' });
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await rename(tmp, this.file);
    await fsyncPath(dir);
  }
}
