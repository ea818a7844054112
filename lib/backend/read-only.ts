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
    lookup: (dir, name) => inner.lookup(dir, name),
    getattr: (path) => inner.getattr(path),
    readlink: (path) => inner.readlink(path),
    read: (fh, length, position) => inner.read(fh, length, position),
    release: (fh) => inner.release(fh),
    readdir: (path) => inner.readdir(path),
    statfs: (path) => inner.statfs(path),
    getxattr: (path, name) => inner.getxattr(path, name),
    listxattr: (path) => inner.listxattr(path),
    fsync: (fh, datasync) => inner.fsync(fh, datasync),
    ...(inner.fgetattr && { fgetattr: (fh: number) => inner.fgetattr!(fh) }),
    open: (path, flags) => (flags & WRITE_FLAGS ? refuse() : inner.open(path, flags)),
    access: (path, mask) => (mask & W_OK ? refuse() : inner.access(path, mask)),
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
