// Open directories: a listing is read once per opendir (and again on
// rewinddir, i.e. a readdir at offset 0) and served in slices, so offsets stay
// valid while the directory changes underneath. Entry i's offset cookie is i + 1.
import type { Node } from './nodes.js';

export interface Listing {
  names: string[];
  ids: bigint[];
  /** ATTR_SIZE bytes per entry, in the addon's layout. */
  attrs: Buffer;
}

export interface DirHandle {
  node: Node;
  listing?: Listing;
}

export class DirHandles {
  private next = 1;
  private readonly open = new Map<number, DirHandle>();

  add(node: Node): number {
    const fh = this.next++;
    this.open.set(fh, { node });
    return fh;
  }

  get(fh: number): DirHandle | undefined {
    return this.open.get(fh);
  }

  release(fh: number): void {
    this.open.delete(fh);
  }
}
