// Request names for the counters: FUSE ops as the addon numbers them, 9P
// messages as the codec's table names them.
import { Op } from '../fuse/native.js';
import { byType } from '../ninep/messages.js';

// Op is a const enum (no runtime names): each entry is checked against it here.
const fuseNames: Record<number, string> = {
  [Op.LOOKUP]: 'LOOKUP', [Op.FORGET]: 'FORGET', [Op.GETATTR]: 'GETATTR', [Op.SETATTR]: 'SETATTR',
  [Op.READLINK]: 'READLINK', [Op.MKNOD]: 'MKNOD', [Op.MKDIR]: 'MKDIR', [Op.UNLINK]: 'UNLINK',
  [Op.RMDIR]: 'RMDIR', [Op.SYMLINK]: 'SYMLINK', [Op.RENAME]: 'RENAME', [Op.LINK]: 'LINK',
  [Op.OPEN]: 'OPEN', [Op.READ]: 'READ', [Op.WRITE]: 'WRITE', [Op.FLUSH]: 'FLUSH',
  [Op.RELEASE]: 'RELEASE', [Op.FSYNC]: 'FSYNC', [Op.OPENDIR]: 'OPENDIR', [Op.READDIR]: 'READDIR',
  [Op.READDIRPLUS]: 'READDIRPLUS', [Op.RELEASEDIR]: 'RELEASEDIR', [Op.FSYNCDIR]: 'FSYNCDIR',
  [Op.STATFS]: 'STATFS', [Op.SETXATTR]: 'SETXATTR', [Op.GETXATTR]: 'GETXATTR', [Op.LISTXATTR]: 'LISTXATTR',
  [Op.REMOVEXATTR]: 'REMOVEXATTR', [Op.ACCESS]: 'ACCESS', [Op.CREATE]: 'CREATE',
  [Op.GETLK]: 'GETLK', [Op.SETLK]: 'SETLK', [Op.FLOCK]: 'FLOCK', [Op.FALLOCATE]: 'FALLOCATE',
  [Op.LSEEK]: 'LSEEK', [Op.COPY_FILE_RANGE]: 'COPY_FILE_RANGE',
};

export const fuseOpName = (op: number): string => fuseNames[op] ?? `op${op}`;
export const ninepMessageName = (type: number): string => byType.get(type)?.name ?? `type${type}`;
