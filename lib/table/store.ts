// Where the table's chunks are kept. Two implementations: xattrs on the export
// root (xattr-store.ts) and a state file (state-file-store.ts). A store only
// moves bytes; table.ts decides what they mean.
import type { Slot } from './slot.js';

export interface ChunkStore {
  /** Human-readable location, for logs and error messages. */
  readonly where: string;
  /** Both slots (or the one slot a file holds). Throws TableCorruptError on damage. */
  readSlots(): Promise<Slot[]>;
  /**
   * Replace the slot for this generation with these chunks and make it durable
   * (fsync) before resolving. Never touches the other slot.
   */
  writeSlot(generation: bigint, chunks: (maxChunk: number) => Buffer[]): Promise<void>;
}

/** Thrown by a store that cannot hold the table at all (xattr space exhausted, read-only, ENOTSUP). */
export class StoreFullError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StoreFullError';
  }
}
