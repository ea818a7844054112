// Attr <-> the addon's fixed 96-byte attribute layout (native/attr.c, which
// reports its offsets: native.ts checks them against ATTR_LAYOUT at load).
import type { Attr } from '../backend/attr.js';

/** Byte offsets of each field (native/attr.c reports its own; native.ts compares them at load). */
export const ATTR_LAYOUT = {
  ino: 0, size: 8, blocks: 16, atime: 24, mtime: 32, ctime: 40, rdev: 48, nlink: 56,
  atimeNs: 64, mtimeNs: 68, ctimeNs: 72, mode: 76, uid: 80, gid: 84, blksize: 88, generation: 92, size_of_layout: 96,
} as const;
const L = ATTR_LAYOUT;
export const ATTR_SIZE = L.size_of_layout;
const NS = 1_000_000_000n;

function splitNs(ns: bigint): [bigint, number] {
  let sec = ns / NS;
  let nsec = ns % NS;
  if (nsec < 0n) {
    sec -= 1n; // before 1970: floor, so nsec stays in [0, 1e9)
    nsec += NS;
  }
  return [sec, Number(nsec)];
}

/** Writes `attr` at byte `off` of `buf` (which holds at least off + ATTR_SIZE bytes). */
export function writeAttr(buf: Buffer, off: number, attr: Attr): void {
  const [as, an] = splitNs(attr.atimeNs);
  const [ms, mn] = splitNs(attr.mtimeNs);
  const [cs, cn] = splitNs(attr.ctimeNs);
  buf.writeBigUInt64LE(attr.ino, off + L.ino);
  buf.writeBigUInt64LE(attr.size, off + L.size);
  buf.writeBigUInt64LE(attr.blocks, off + L.blocks);
  buf.writeBigInt64LE(as, off + L.atime);
  buf.writeBigInt64LE(ms, off + L.mtime);
  buf.writeBigInt64LE(cs, off + L.ctime);
  buf.writeBigUInt64LE(attr.rdev, off + L.rdev);
  buf.writeBigUInt64LE(attr.nlink, off + L.nlink);
  buf.writeUInt32LE(an, off + L.atimeNs);
  buf.writeUInt32LE(mn, off + L.mtimeNs);
  buf.writeUInt32LE(cn, off + L.ctimeNs);
  buf.writeUInt32LE(attr.mode >>> 0, off + L.mode);
  buf.writeUInt32LE(attr.uid >>> 0, off + L.uid);
  buf.writeUInt32LE(attr.gid >>> 0, off + L.gid);
  buf.writeUInt32LE(Number(attr.blksize) >>> 0, off + L.blksize);
  buf.writeUInt32LE((attr.generation ?? 0) >>> 0, off + L.generation);
}

/** A plain directory entry's id and type only, at `off` of a zeroed `buf`: the kernel reads no other field of it. */
export function writeIdType(buf: Buffer, off: number, ino: bigint, mode: number): void {
  buf.writeBigUInt64LE(ino, off + L.ino);
  buf.writeUInt32LE(mode >>> 0, off + L.mode);
}

export function attrBuffer(attr: Attr): Buffer {
  const buf = Buffer.allocUnsafe(ATTR_SIZE);
  writeAttr(buf, 0, attr);
  return buf;
}

/** The fields a SETATTR request carries (decoded from the kernel's struct stat). */
export interface RawSetattr {
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
}

export function readSetattr(buf: Buffer): RawSetattr {
  return {
    size: buf.readBigInt64LE(L.size),
    atimeNs: buf.readBigInt64LE(L.atime) * NS + BigInt(buf.readUInt32LE(L.atimeNs)),
    mtimeNs: buf.readBigInt64LE(L.mtime) * NS + BigInt(buf.readUInt32LE(L.mtimeNs)),
    mode: buf.readUInt32LE(L.mode),
    uid: buf.readUInt32LE(L.uid),
    gid: buf.readUInt32LE(L.gid),
  };
}
