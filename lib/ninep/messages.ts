// Every 9P2000.L message, described once. codec.ts encodes, decodes and prints
// from these field lists, so the two directions cannot drift apart. Numbers
// and layouts follow the Linux client (include/net/9p/9p.h, net/9p/client.c)
// and diod's protocol.md; an R-message's number is its T-message's plus one.
import { data, type FieldType, list, qid, str, u16, u32, u64, u8 } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fields = Record<string, FieldType<any>>;
export type ValueOf<F extends Fields> = { [K in keyof F]: F[K] extends FieldType<infer T> ? T : never };

export interface MsgDef<F extends Fields = Fields> {
  type: number;
  name: string;
  fields: F;
  /** Field entries in wire order, precomputed for the codec's loops. */
  order: [string, FieldType<unknown>][];
}

export const byType = new Map<number, MsgDef>();

function msg<F extends Fields>(type: number, name: string, fields: F): MsgDef<F> {
  const def: MsgDef<F> = { type, name, fields, order: Object.entries(fields) };
  if (byType.has(type)) throw new Error(`9P message ${type} described twice`);
  byType.set(type, def as unknown as MsgDef);
  return def;
}

export const Rlerror = msg(7, 'Rlerror', { ecode: u32 });
export const Tstatfs = msg(8, 'Tstatfs', { fid: u32 });
export const Rstatfs = msg(9, 'Rstatfs', {
  type: u32, bsize: u32, blocks: u64, bfree: u64, bavail: u64, files: u64, ffree: u64, fsid: u64, namelen: u32,
});
export const Tlopen = msg(12, 'Tlopen', { fid: u32, flags: u32 });
export const Rlopen = msg(13, 'Rlopen', { qid, iounit: u32 });
export const Tlcreate = msg(14, 'Tlcreate', { fid: u32, name: str, flags: u32, mode: u32, gid: u32 });
export const Rlcreate = msg(15, 'Rlcreate', { qid, iounit: u32 });
export const Tsymlink = msg(16, 'Tsymlink', { fid: u32, name: str, symtgt: str, gid: u32 });
export const Rsymlink = msg(17, 'Rsymlink', { qid });
export const Tmknod = msg(18, 'Tmknod', { dfid: u32, name: str, mode: u32, major: u32, minor: u32, gid: u32 });
export const Rmknod = msg(19, 'Rmknod', { qid });
export const Trename = msg(20, 'Trename', { fid: u32, dfid: u32, name: str });
export const Rrename = msg(21, 'Rrename', {});
export const Treadlink = msg(22, 'Treadlink', { fid: u32 });
export const Rreadlink = msg(23, 'Rreadlink', { target: str });
export const Tgetattr = msg(24, 'Tgetattr', { fid: u32, request_mask: u64 });
export const Rgetattr = msg(25, 'Rgetattr', {
  valid: u64, qid, mode: u32, uid: u32, gid: u32, nlink: u64, rdev: u64, size: u64, blksize: u64, blocks: u64,
  atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64, ctime_sec: u64, ctime_nsec: u64,
  btime_sec: u64, btime_nsec: u64, gen: u64, data_version: u64,
});
export const Tsetattr = msg(26, 'Tsetattr', {
  fid: u32, valid: u32, mode: u32, uid: u32, gid: u32, size: u64,
  atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64,
});
export const Rsetattr = msg(27, 'Rsetattr', {});
export const Txattrwalk = msg(30, 'Txattrwalk', { fid: u32, newfid: u32, name: str });
export const Rxattrwalk = msg(31, 'Rxattrwalk', { size: u64 });
export const Txattrcreate = msg(32, 'Txattrcreate', { fid: u32, name: str, attr_size: u64, flags: u32 });
export const Rxattrcreate = msg(33, 'Rxattrcreate', {});
export const Treaddir = msg(40, 'Treaddir', { fid: u32, offset: u64, count: u32 });
export const Rreaddir = msg(41, 'Rreaddir', { data });
export const Tfsync = msg(50, 'Tfsync', { fid: u32, datasync: u32 });
export const Rfsync = msg(51, 'Rfsync', {});
export const Tlock = msg(52, 'Tlock', {
  fid: u32, type: u8, flags: u32, start: u64, length: u64, proc_id: u32, client_id: str,
});
export const Rlock = msg(53, 'Rlock', { status: u8 });
export const Tgetlock = msg(54, 'Tgetlock', { fid: u32, type: u8, start: u64, length: u64, proc_id: u32, client_id: str });
export const Rgetlock = msg(55, 'Rgetlock', { type: u8, start: u64, length: u64, proc_id: u32, client_id: str });
export const Tlink = msg(70, 'Tlink', { dfid: u32, fid: u32, name: str });
export const Rlink = msg(71, 'Rlink', {});
export const Tmkdir = msg(72, 'Tmkdir', { dfid: u32, name: str, mode: u32, gid: u32 });
export const Rmkdir = msg(73, 'Rmkdir', { qid });
export const Trenameat = msg(74, 'Trenameat', { olddirfid: u32, oldname: str, newdirfid: u32, newname: str });
export const Rrenameat = msg(75, 'Rrenameat', {});
export const Tunlinkat = msg(76, 'Tunlinkat', { dirfid: u32, name: str, flags: u32 });
export const Runlinkat = msg(77, 'Runlinkat', {});
export const Tversion = msg(100, 'Tversion', { msize: u32, version: str });
export const Rversion = msg(101, 'Rversion', { msize: u32, version: str });
export const Tauth = msg(102, 'Tauth', { afid: u32, uname: str, aname: str, n_uname: u32 });
export const Rauth = msg(103, 'Rauth', { aqid: qid });
export const Tattach = msg(104, 'Tattach', { fid: u32, afid: u32, uname: str, aname: str, n_uname: u32 });
export const Rattach = msg(105, 'Rattach', { qid });
export const Tflush = msg(108, 'Tflush', { oldtag: u16 });
export const Rflush = msg(109, 'Rflush', {});
export const Twalk = msg(110, 'Twalk', { fid: u32, newfid: u32, wnames: list(u16, str) });
export const Rwalk = msg(111, 'Rwalk', { wqids: list(u16, qid) });
export const Tread = msg(116, 'Tread', { fid: u32, offset: u64, count: u32 });
export const Rread = msg(117, 'Rread', { data });
export const Twrite = msg(118, 'Twrite', { fid: u32, offset: u64, data });
export const Rwrite = msg(119, 'Rwrite', { count: u32 });
export const Tclunk = msg(120, 'Tclunk', { fid: u32 });
export const Rclunk = msg(121, 'Rclunk', {});
export const Tremove = msg(122, 'Tremove', { fid: u32 });
export const Rremove = msg(123, 'Rremove', {});

/** Frame header: size[4] type[1] tag[2]. */
export const HEADER_SIZE = 7;
export const NOTAG = 0xffff;
export const NOFID = 0xffffffff;

export const QTDIR = 0x80;
export const QTSYMLINK = 0x02;
export const QTFILE = 0x00;

/** Rgetattr valid bits (P9_GETATTR_*). BASIC is mode..blocks plus the three times. */
export const GETATTR_BASIC = 0x7ffn;
export const GETATTR_BTIME = 0x800n;

/** Tsetattr valid bits (P9_ATTR_*). */
export const ATTR = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, CTIME: 1 << 6,
  ATIME_SET: 1 << 7, MTIME_SET: 1 << 8,
} as const;

/** Tlock/Tgetlock types and Rlock status (P9_LOCK_*). */
export const LOCK_TYPE = { RDLCK: 0, WRLCK: 1, UNLCK: 2 } as const;
export const LOCK_STATUS = { SUCCESS: 0, BLOCKED: 1, ERROR: 2, GRACE: 3 } as const;
