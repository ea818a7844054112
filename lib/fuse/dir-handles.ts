// Open directories: the names are read once per opendir (and again on
// rewinddir, i.e. a readdir at offset 0) and served in slices, so offsets stay
// valid while the directory changes underneath. Name i's offset cookie is
// i + 1. A full entry (a node the kernel keeps) is looked up afresh when its
// slice is sent, so a listing from the past never decides what a name is now;
// a plain entry (id and type only, nothing kept) may show what getdents gave,
// as a listing of SRC itself does.
import type { Attr } from '../backend/attr.js';
import type { Node } from './nodes.js';

export interface Listing {
  /** '.', '..', then the directory's names. */
  names: string[];
  /** Attributes of '.' and '..'. */
  dots: [Attr, Attr];
  /** For names[i + 2]: its id and S_IFMT type from the listing, or 0n (backend DirListing). */
  ids?: BigUint64Array;
  modes?: Uint32Array;
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
