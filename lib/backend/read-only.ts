// A Backend that refuses every change with EROFS and passes reads through:
// what `-o ro` means for front-ends that have no kernel mount flag to lean on
// (9P), and what `serve-9p --read-only` serves.
import { constants as C } from 'node:fs';
import { FsError } from '../errno.js';
import type { Backend } from './backend.js';

const WRITE_FLAGS = C.O_WRONLY | C.O_RDWR | C.O_TRUNC | C.O_APPEND | C.O_CREAT;
const W_OK = 2;

export function readOnly(inner: Backend): Backend {
  const refuse = async (): Promise<never> => {
    throw new FsError('EROFS', 'the export is served read-only');
  };
  return {
    get root() {
      return inner.root;
    },
    lookup: (dir, name) => inner.lookup(dir, name),
    byId: (id) => inner.byId(id),
    parent: (dir) => inner.parent(dir),
    hold: (inode) => inner.hold(inode),
    forget: (inode, count) => inner.forget(inode, count),
    getattr: (node) => inner.getattr(node),
    readlink: (node) => inner.readlink(node),
    read: (fh, length, position) => inner.read(fh, length, position),
    release: (fh) => inner.release(fh),
    readdir: (dir) => inner.readdir(dir),
    statAt: (dir, name) => inner.statAt(dir, name),
    parentAttr: (dir) => inner.parentAttr(dir),
    statfs: (node) => inner.statfs(node),
    getxattr: (node, name) => inner.getxattr(node, name),
    listxattr: (node) => inner.listxattr(node),
    fsync: (fh, datasync) => inner.fsync(fh, datasync),
    ...(inner.fd && { fd: (fh: number) => inner.fd!(fh) }),
    lseek: (fh, offset, whence) => inner.lseek(fh, offset, whence),
    // Locks change no data: read-only exports keep them (a read lock is all a read-only handle can take).
    setlk: (fh, owner, lock, cancelled) => inner.setlk(fh, owner, lock, cancelled),
    getlk: (fh, owner, lock) => inner.getlk(fh, owner, lock),
    flock: (fh, owner, op, cancelled) => inner.flock(fh, owner, op, cancelled),
    unlockOwner: (fh, owner) => inner.unlockOwner(fh, owner),
    fallocate: refuse,
    copyFileRange: refuse,
    open: (node, flags) => (flags & WRITE_FLAGS ? refuse() : inner.open(node, flags)),
    access: (node, mask) => (mask & W_OK ? refuse() : inner.access(node, mask)),
    mountOf: inner.mountOf && ((node) => inner.mountOf!(node)),
    setattr: refuse,
    mknod: refuse,
    mkdir: refuse,
    unlink: refuse,
    rmdir: refuse,
    symlink: refuse,
    rename: refuse,
    link: refuse,
    create: refuse,
    write: refuse,
    setxattr: refuse,
    removexattr: refuse,
  };
}
