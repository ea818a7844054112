// The kernel's view of the tree: FUSE node id (= the stable id; 1 is the
// root) -> the node's current place (parent + name), with the lookup count
// the kernel holds on it. Paths are computed by walking up, so a rename moves
// a whole subtree at once. forget() drops a node when its count reaches 0.
//
// A file with several hard links has one id and so one node. Its place is the
// name it was last looked up by; the other names the kernel has seen are kept
// as `alts`, so removing one link does not orphan a file that still has
// another (ops verifies an alt by its id before using it: see relink()).
// A node with no name left has no path: path() fails with ESTALE.
import { FsError } from '../errno.js';

export const ROOT_NODE_ID = 1n;

export class Node {
  lookups = 0;
  /** Children the kernel has looked up, by name. */
  children: Map<string, Node> | undefined;
  /** Handles open on this file: an unlinked file still answers getattr through one. */
  handles: Set<number> | undefined;
  /** mtime and size when last opened: unchanged means the kernel may keep its page cache. */
  openStamp: string | undefined;
  /** Other names of this file (hard links) the kernel has looked up. */
  alts: Array<{ parent: Node; name: string }> | undefined;

  constructor(
    readonly id: bigint,
    public parent: Node | undefined,
    public name: string,
  ) {}
}

export class Nodes {
  readonly root: Node;
  private readonly byId = new Map<bigint, Node>();

  /** rootId: the root's stable id (reported as its st_ino; its node id stays 1). */
  constructor(readonly rootId: bigint) {
    this.root = new Node(rootId, undefined, '');
  }

  /** The node the kernel means by `nodeId`; ESTALE if the kernel names one it has forgotten. */
  get(nodeId: bigint): Node {
    if (nodeId === ROOT_NODE_ID) return this.root;
    const node = this.byId.get(nodeId);
    if (!node) throw new FsError('ESTALE', `unknown FUSE node id ${nodeId}`);
    return node;
  }

  /** Path relative to the export root ('' for the root). */
  path(node: Node): string {
    if (node === this.root) return '';
    let path = node.name;
    for (let p = node.parent; p !== this.root; p = p.parent) {
      if (!p) throw new FsError('ESTALE', `node ${node.id} has no path any more`);
      path = `${p.name}/${path}`;
    }
    if (!node.parent) throw new FsError('ESTALE', `node ${node.id} has no path any more`);
    return path;
  }

  /** The kernel now holds `count` more references to the file `id` found at parent/name. */
  lookedUp(parent: Node, name: string, id: bigint, count = 1): Node {
    let node = this.byId.get(id);
    if (!node) {
      node = new Node(id, undefined, name);
      this.byId.set(id, node);
    }
    if (node.parent !== parent || node.name !== name) {
      // Still listed at its old place: a second name of the same file (a hard link).
      if (node.parent && node.parent.children?.get(node.name) === node) (node.alts ??= []).push({ parent: node.parent, name: node.name });
      this.dropAlt(node, parent, name);
      this.place(node, parent, name, true);
    }
    node.lookups += count;
    return node;
  }

  /** The names this node had besides its place, for ops to verify and adopt after its place went. */
  alternates(node: Node): Array<{ path: string; parent: Node; name: string }> {
    const out: Array<{ path: string; parent: Node; name: string }> = [];
    for (const a of node.alts ?? []) {
      try {
        out.push({ ...a, path: a.parent === this.root ? a.name : `${this.path(a.parent)}/${a.name}` });
      } catch {
        // its directory is gone too
      }
    }
    return out;
  }

  /** Make a verified alternate name the node's place again. */
  adopt(node: Node, parent: Node, name: string): void {
    this.dropAlt(node, parent, name);
    this.place(node, parent, name, true);
  }

  forget(nodeId: bigint, count: bigint): void {
    const node = this.byId.get(nodeId);
    if (!node) return;
    node.lookups -= Number(count);
    if (node.lookups > 0) return;
    this.byId.delete(nodeId);
    // Keep node.parent: a descendant the kernel still holds computes its path through it.
    if (node.parent?.children?.get(node.name) === node) this.unlinkChild(node.parent, node.name);
    for (const a of node.alts ?? []) if (a.parent.children?.get(a.name) === node) this.unlinkChild(a.parent, a.name);
    node.alts = undefined;
  }

  /** parent/name no longer exists (unlink, rmdir). */
  removed(parent: Node, name: string): void {
    const node = parent.children?.get(name);
    if (!node) return;
    if (node.parent === parent && node.name === name) this.unplace(node);
    else {
      this.dropAlt(node, parent, name);
      this.unlinkChild(parent, name);
    }
  }

  /** A successful rename: whatever was at the target is gone, the source moves there. */
  renamed(parent: Node, name: string, newParent: Node, newName: string): void {
    const node = parent.children?.get(name);
    this.removed(newParent, newName);
    if (!node) return;
    if (node.parent === parent && node.name === name) this.place(node, newParent, newName);
    else {
      // One of its other names moved.
      this.dropAlt(node, parent, name);
      this.unlinkChild(parent, name);
      (node.alts ??= []).push({ parent: newParent, name: newName });
      (newParent.children ??= new Map()).set(newName, node);
    }
  }

  /** Number of nodes the kernel holds (for tests and logs). */
  get size(): number {
    return this.byId.size;
  }

  /** keepOld: the old place stays listed as an alternate (lookedUp, adopt). */
  private place(node: Node, parent: Node, name: string, keepOld = false): void {
    if (keepOld) node.parent = undefined;
    else this.unplace(node);
    const old = parent.children?.get(name);
    if (old && old !== node) this.removed(parent, name);
    node.parent = parent;
    node.name = name;
    (parent.children ??= new Map()).set(name, node);
  }

  private unplace(node: Node): void {
    const parent = node.parent;
    if (parent && parent.children?.get(node.name) === node) this.unlinkChild(parent, node.name);
    node.parent = undefined;
  }

  private dropAlt(node: Node, parent: Node, name: string): void {
    if (!node.alts) return;
    node.alts = node.alts.filter((a) => a.parent !== parent || a.name !== name);
    if (node.alts.length === 0) node.alts = undefined;
  }

  private unlinkChild(parent: Node, name: string): void {
    parent.children?.delete(name);
    if (parent.children?.size === 0) parent.children = undefined;
  }
}
