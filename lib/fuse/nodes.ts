// The kernel's nodes: FUSE node id (= the stable id; 1 is the root) -> the
// backend Inode it names, with the lookup count the kernel holds on it. A
// node names a file, never a place: renames, removals and directory listings
// cannot move it (the Inode's descriptor follows the file). Each node holds
// one backend reference, given back when the kernel forgets the node.
import type { Entry, Inode } from '../backend/backend.js';
import { FsError } from '../errno.js';

export const ROOT_NODE_ID = 1n;

export class Node {
  lookups = 0;
  /** Handles open on this file. */
  handles: Set<number> | undefined;
  /** mtime and size when last opened: unchanged means the kernel may keep its page cache. */
  openStamp: string | undefined;
  /** A directory listed with plain entries for its files (readdirplus without nodes). */
  listedPlain = false;
  /** A directory whose listed names the caller then looked up: its listings carry full entries. */
  statsChildren = false;
  /** A record lock was asked for through this file: its later opens get FLUSH at close(2). */
  locked = false;

  constructor(
    /** The stable id (the node id, except for the root, which is node 1). */
    readonly id: bigint,
    /** The file; replaced when its old file was deleted and the id went to a new one (Nodes.lookedUp). */
    public inode: Inode,
  ) {}
}

export class Nodes {
  readonly root: Node;
  private readonly byId = new Map<bigint, Node>();

  /** release: gives a node's backend reference back (Backend.forget). */
  constructor(
    rootInode: Inode,
    private readonly release: (inode: Inode) => void,
  ) {
    this.root = new Node(rootInode.id, rootInode);
  }

  /** The node the kernel means by `nodeId`; ESTALE if the kernel names one it has forgotten. */
  get(nodeId: bigint): Node {
    if (nodeId === ROOT_NODE_ID) return this.root;
    const node = this.byId.get(nodeId);
    if (!node) throw new FsError('ESTALE', `unknown FUSE node id ${nodeId}`);
    return node;
  }

  /**
   * The kernel now holds `count` more references to the entry's file. The
   * entry's backend reference becomes the node's, or is given back when the
   * node already exists.
   */
  lookedUp(entry: Entry, count = 1): Node {
    let node = this.byId.get(entry.inode.id);
    if (node && node.inode !== entry.inode) {
      // The node's file was deleted and its id went to this file: one node
      // id names it now (the kernel sees the new generation and retires its
      // inode of the old file), so the node moves to the new Inode.
      this.release(node.inode);
      node.inode = entry.inode;
    } else if (node) this.release(entry.inode);
    else {
      node = new Node(entry.inode.id, entry.inode);
      this.byId.set(node.id, node);
    }
    node.lookups += count;
    return node;
  }

  forget(nodeId: bigint, count: bigint): void {
    const node = this.byId.get(nodeId);
    if (!node) return;
    node.lookups -= Number(count);
    if (node.lookups > 0) return;
    this.byId.delete(nodeId);
    this.release(node.inode);
  }

  /** Number of nodes the kernel holds (for tests and logs). */
  get size(): number {
    return this.byId.size;
  }
}
