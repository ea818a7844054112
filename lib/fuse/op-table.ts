// The ops the addon hands to JS, described once on this side: kernel opcode
// (or our own for ENDED and FLOCK), and one kind letter per argument, in the
// order the handler receives them. native/ops.c holds the same table;
// checkOpTable() compares the two when the addon loads, so neither side can
// drift. Handlers get their arguments typed from the letters (ArgsOf).
//
// Kinds: s string, u uint32, n number (sizes), f file handle (-1 when the
// request names none), b Buffer, B bigint (u64), i bigint (i64), z boolean,
// F BigUint64Array of (node id, count) pairs.
export const OPS = {
  ENDED: [0, 'n'], // the connection is over: the loop's result
  LOOKUP: [1, 's'], // name
  FORGET: [2, 'F'], // (node id, nlookup) pairs; no request to answer
  GETATTR: [3, 'f'], // fh
  SETATTR: [4, 'ufb'], // to_set bits (FATTR_*), fh, values (attr layout)
  READLINK: [5, ''],
  SYMLINK: [6, 'ss'], // name, target
  MKNOD: [8, 'suB'], // name, mode, rdev
  MKDIR: [9, 'su'], // name, mode
  UNLINK: [10, 's'],
  RMDIR: [11, 's'],
  RENAME: [12, 'sBsu'], // name, new parent, new name, flags (RENAME2 too)
  LINK: [13, 'Bs'], // (ino is the file) new parent, new name
  OPEN: [14, 'uu'], // open flags, FUSE_OPEN_* flags (kill-priv.ts)
  READ: [15, 'fni'], // fh, size, offset
  WRITE: [16, 'fbiu'], // fh, data, offset, write flags (FUSE_WRITE_KILL_SUIDGID: kill-priv.ts)
  STATFS: [17, ''],
  RELEASE: [18, 'f'],
  FSYNC: [20, 'fz'], // fh, datasync
  SETXATTR: [21, 'sbu'], // name, value, flags
  GETXATTR: [22, 'sn'], // name, size (0: how big?)
  LISTXATTR: [23, 'n'], // size
  REMOVEXATTR: [24, 's'],
  FLUSH: [25, 'fB'], // fh, lock owner
  OPENDIR: [27, 'u'],
  READDIR: [28, 'fni'], // fh, size, offset
  RELEASEDIR: [29, 'f'],
  FSYNCDIR: [30, 'fz'],
  GETLK: [31, 'fBuiiuz'], // fh, owner, type, start, len (0: to the end), pid, -
  SETLK: [32, 'fBuiiuz'], // ... may sleep (SETLKW)
  ACCESS: [34, 'u'], // mask
  CREATE: [35, 'suuu'], // name, mode, open flags, FUSE_OPEN_* flags
  FALLOCATE: [43, 'fuii'], // fh, mode, offset, length
  READDIRPLUS: [44, 'fni'],
  LSEEK: [46, 'fiu'], // fh, offset, whence
  COPY_FILE_RANGE: [47, 'fifinuB'], // fh in, offset in, fh out, offset out, length, flags, node out
  FLOCK: [1001, 'fBuiiuz'], // fh, owner, flock(2) op (LOCK_NB unless it may wait), ...
} as const;

export type OpName = keyof typeof OPS;
export type OpCode = (typeof OPS)[OpName][0];

interface Kinds {
  s: string;
  u: number;
  n: number;
  f: number;
  b: Buffer;
  B: bigint;
  i: bigint;
  z: boolean;
  F: BigUint64Array;
}
type Letters<S extends string> = S extends `${infer H extends keyof Kinds}${infer R}` ? [Kinds[H], ...Letters<R>] : [];
/** The handler's arguments after (req, ino) for op N, typed from its letters. */
export type ArgsOf<N extends OpName> = Letters<(typeof OPS)[N][1]>;

const byCode = new Map<number, OpName>(Object.entries(OPS).map(([name, [code]]) => [code, name as OpName]));

/** The op's name for a code (status counters, traces). */
export function opName(code: number): OpName | undefined {
  return byCode.get(code);
}

/** Kernel opcodes JS never sees under their own name (answered in the addon, or turned into another op). */
const KERNEL_ONLY: Record<number, string> = { 26: 'INIT', 33: 'SETLKW', 36: 'INTERRUPT', 38: 'DESTROY', 42: 'BATCH_FORGET', 45: 'RENAME2', 52: 'STATX' };

/** The name of a kernel opcode as the addon counts it (status counters). */
export function requestName(code: number): string {
  return KERNEL_ONLY[code] ?? opName(code) ?? `op${code}`;
}

/**
 * Compares the addon's table ([op, name, kinds] rows; the kernel's RENAME2
 * and SETLKW appear as the ops they become) with OPS. Throws on any
 * difference, naming it: a mismatch would hand handlers wrong arguments.
 */
export function checkOpTable(native: Array<[number, string, string]>): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [code, name, kinds] of native) {
    seen.add(name);
    const mine = (OPS as Record<string, readonly [number, string]>)[name];
    if (!mine) problems.push(`the addon has ${name} (${code}), lib/fuse/op-table.ts does not`);
    else if (mine[0] !== code || mine[1] !== kinds) problems.push(`${name}: addon ${code} '${kinds}', op-table.ts ${mine[0]} '${mine[1]}'`);
  }
  for (const name of Object.keys(OPS)) if (!seen.has(name)) problems.push(`op-table.ts has ${name}, the addon does not`);
  if (problems.length) throw new Error(`the FUSE addon and lib/fuse/op-table.ts disagree (rebuild the addon: npm run install): ${problems.join('; ')}`);
}
