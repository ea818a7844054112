// Chunks kept as xattrs on the export root: user.stableid.<slot>.<index>.
// ext4 without ea_inode keeps every xattr of an inode in one block (measured
// here: a 4 KiB block takes one value of about 4000 bytes, ENOSPC beyond), xfs
// and ext4 with ea_inode take 64 KiB values. So the chunk size starts at the
// VFS maximum and halves on ENOSPC/E2BIG until the filesystem accepts it.
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import * as xattr from 'fs-xattr';
import { isCode } from '../errno.js';
import { assembleSlot, type Slot } from './slot.js';
import { type ChunkStore, StoreFullError } from './store.js';

export const XATTR_PREFIX = 'user.stableid.';
const XATTR_SIZE_MAX = 65536;
const MIN_CHUNK = 256;
const NAME = /^user\.stableid\.([ab])\.(\d{1,5})$/;

export function slotOf(generation: bigint): 'a' | 'b' {
  return generation % 2n === 1n ? 'a' : 'b';
}

export class XattrStore implements ChunkStore {
  readonly where: string;
  private chunkSize = XATTR_SIZE_MAX;

  constructor(readonly root: string) {
    this.where = `xattrs ${XATTR_PREFIX}* on ${root}`;
  }

  static nameOf(slot: string, index: number): string {
    return `${XATTR_PREFIX}${slot}.${index}`;
  }

  /** Names of this slot's chunks now on the root, by index. */
  private async names(): Promise<Map<string, Map<number, string>>> {
    const out = new Map([['a', new Map<number, string>()], ['b', new Map<number, string>()]]);
    for (const name of await xattr.listAttributes(this.root)) {
      const m = NAME.exec(name);
      if (m) out.get(m[1]!)!.set(Number(m[2]), name);
    }
    return out;
  }

  async readSlots(): Promise<Slot[]> {
    const slots: Slot[] = [];
    for (const [slot, names] of await this.names()) {
      const raw = new Map<number, Buffer>();
      for (const [i, name] of names) {
        try {
          raw.set(i, await xattr.getAttribute(this.root, name));
        } catch (err) {
          if (!isCode(err, 'ENODATA')) throw err; // removed since listed: a writer raced us
        }
      }
      slots.push(assembleSlot(raw, (i) => XattrStore.nameOf(slot, i)));
    }
    return slots;
  }

  async writeSlot(generation: bigint, chunks: (maxChunk: number) => Buffer[]): Promise<void> {
    const slot = slotOf(generation);
    for (;;) {
      const list = chunks(this.chunkSize);
      try {
        // Highest index first, chunk 0 last: a reader that sees the new chunk 0
        // sees a slot that is complete unless a later chunk is missing.
        for (let i = list.length - 1; i >= 0; i--) await xattr.setAttribute(this.root, XattrStore.nameOf(slot, i), list[i]!);
        for (const [i, name] of (await this.names()).get(slot)!) if (i >= list.length) await removeQuiet(this.root, name);
        await fsyncPath(this.root);
        return;
      } catch (err) {
        if (isCode(err, 'ENOSPC', 'E2BIG') && this.chunkSize / 2 >= MIN_CHUNK) {
          this.chunkSize /= 2;
          continue;
        }
        if (isCode(err, 'ENOSPC', 'E2BIG', 'EROFS', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EACCES', 'EDQUOT'))
        {
          const code = (err as { code: string }).code;
          throw new StoreFullError(`cannot write ${XattrStore.nameOf(slot, 0)} on ${this.root}: ${code} (${(err as Error).message})`, code);
        }
        throw err;
      }
    }
  }

  /** Drop one slot entirely (to make room for a MOVED marker). */
  async removeSlot(generation: bigint): Promise<void> {
    for (const name of (await this.names()).get(slotOf(generation))!.values()) await removeQuiet(this.root, name);
    await fsyncPath(this.root);
  }

  /** Current chunk size the filesystem accepted (for tests and `table show`). */
  get acceptedChunkSize(): number {
    return this.chunkSize;
  }
}

async function removeQuiet(path: string, name: string): Promise<void> {
  try {
    await xattr.removeAttribute(path, name);
  } catch (err) {
    if (!isCode(err, 'ENODATA')) throw err;
  }
}

/** fsync an inode by path (a directory or file): commits its xattrs on ext4/xfs. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
