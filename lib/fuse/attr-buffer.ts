// Attr <-> the addon's fixed 96-byte attribute layout (native/attr.c).
import type { Attr } from '../backend/attr.js';

export const ATTR_SIZE = 96;
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
  buf.writeBigUInt64LE(attr.ino, off);
  buf.writeBigUInt64LE(attr.size, off + 8);
  buf.writeBigUInt64LE(attr.blocks, off + 16);
  buf.writeBigInt64LE(as, off + 24);
  buf.writeBigInt64LE(ms, off + 32);
  buf.writeBigInt64LE(cs, off + 40);
  buf.writeBigUInt64LE(attr.rdev, off + 48);
  buf.writeBigUInt64LE(attr.nlink, off + 56);
  buf.writeUInt32LE(an, off + 64);
  buf.writeUInt32LE(mn, off + 68);
  buf.writeUInt32LE(cn, off + 72);
  buf.writeUInt32LE(attr.mode >>> 0, off + 76);
  buf.writeUInt32LE(attr.uid >>> 0, off + 80);
  buf.writeUInt32LE(attr.gid >>> 0, off + 84);
  buf.writeUInt32LE(Number(attr.blksize) >>> 0, off + 88);
  buf.writeUInt32LE((attr.generation ?? 0) >>> 0, off + 92);
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
    size: buf.readBigInt64LE(8),
    atimeNs: buf.readBigInt64LE(24) * NS + BigInt(buf.readUInt32LE(64)),
    mtimeNs: buf.readBigInt64LE(32) * NS + BigInt(buf.readUInt32LE(68)),
    mode: buf.readUInt32LE(76),
    uid: buf.readUInt32LE(80),
    gid: buf.readUInt32LE(84),
  };
}
