// The one place where a Node error becomes an errno. The backend only throws
// (Node's own errors, or FsError); each front-end catches once, in its
// dispatcher, and calls toErrno(). Map on err.code ('ENOENT'), never on
// err.errno, which is a negative libuv number.
import { constants } from 'node:os';
import { debuglog } from 'node:util';

const log = debuglog('stableid:errno');

// Linux numbers. os.constants.errno is the running platform's table; we only
// run on Linux, and these are the values the FUSE and 9P2000.L wire expect.
export const errnos = {
  ...(constants.errno as Record<string, number>),
  ENOATTR: 61, // BSD name some xattr code paths use; Linux spells it ENODATA
} as Record<string, number>;

export type ErrnoName =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'EBADF' | 'EAGAIN' | 'ENOMEM' | 'EACCES' | 'EBUSY' | 'EEXIST'
  | 'EXDEV' | 'ENODEV' | 'ENOTDIR' | 'EISDIR' | 'EINVAL' | 'ENFILE' | 'EMFILE' | 'EFBIG' | 'ENOSPC'
  | 'EROFS' | 'EMLINK' | 'ERANGE' | 'ENAMETOOLONG' | 'ENOSYS' | 'ENOTEMPTY' | 'ELOOP' | 'ENODATA'
  | 'EOVERFLOW' | 'EPROTO' | 'EBADMSG' | 'ENOTSUP' | 'EOPNOTSUPP' | 'ESTALE' | 'EDQUOT' | 'E2BIG'
  | 'ENXIO' | 'ESPIPE' | 'EFAULT' | 'ETXTBSY' | 'ENOTCONN' | 'ECONNRESET' | 'ECANCELED' | 'EINTR' | 'ENOLCK';

export class FsError extends Error {
  constructor(
    readonly code: ErrnoName,
    msg?: string,
  ) {
    super(msg ?? code);
    this.name = 'FsError';
  }
}

const warned = new Set<string>();

/** Positive errno for any thrown value; unknown errors become EIO and are logged once. */
export function toErrno(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && Object.hasOwn(errnos, code)) return errnos[code as ErrnoName];
  warnOnce(err);
  return errnos.EIO;
}

function warnOnce(err: unknown): void {
  const key = err instanceof Error ? `${err.name}:${err.message}` : String(err);
  if (warned.has(key)) return;
  warned.add(key);
  // An unknown error is a bug on our side or an fs surprise: always tell the operator.
  process.emitWarning(`stableid: unexpected error mapped to EIO: ${err instanceof Error ? err.stack : key}`);
  log('unknown error %o', err);
}

/** True when err carries the given errno name. */
export function isCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}
