// Open directories: the names are read once per opendir (and again on
// rewinddir, i.e. a readdir at offset 0) and served in slices, so offsets stay
// valid while the directory changes underneath. Name i's offset cookie is
// i + 1. Only names are kept: each entry's file is looked up afresh when its
// slice is sent, so a listing from the past never decides what a name is now.
import type { Attr } from '../backend/attr.js';
import type { Node } from './nodes.js';

export interface Listing {
  /** '.', '..', then the directory's names. */
  names: string[];
  /** Attributes of '.' and '..'. */
  dots: [Attr, Attr];
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
