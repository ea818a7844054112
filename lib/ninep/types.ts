// Field types a 9P message is built from. Each knows its wire size, how to
// write and read itself and how to print itself, so one field list (see
// messages.ts) drives encode, decode and debug printing alike.
import { Reader, strSize, Writer } from './wire.js';

export interface FieldType<T> {
  size(v: T): number;
  write(w: Writer, v: T): void;
  read(r: Reader): T;
  show(v: T): string;
  /** A value of this type for tests (the round-trip loop fills every message with it). */
  sample: T;
}

export interface Qid {
  type: number;
  version: number;
  path: bigint;
}

export const QID_SIZE = 13;

export const u8: FieldType<number> = { size: () => 1, write: (w, v) => w.u8(v), read: (r) => r.u8(), show: String, sample: 0xa5 };
export const u16: FieldType<number> = { size: () => 2, write: (w, v) => w.u16(v), read: (r) => r.u16(), show: String, sample: 0xbeef };
export const u32: FieldType<number> = { size: () => 4, write: (w, v) => w.u32(v), read: (r) => r.u32(), show: String, sample: 0xdeadbeef };
export const u64: FieldType<bigint> = {
  size: () => 8,
  write: (w, v) => w.u64(v),
  read: (r) => r.u64(),
  show: (v) => v.toString(),
  sample: 0xfedcba9876543210n,
};
export const str: FieldType<string> = {
  size: strSize,
  write: (w, v) => w.str(v),
  read: (r) => r.str(),
  show: (v) => (/^[\x21-\x7e]*$/.test(v) && v !== '' ? v : JSON.stringify(v)),
  sample: 'näme ✓',
};
export const qid: FieldType<Qid> = {
  size: () => QID_SIZE,
  write: (w, v) => {
    w.u8(v.type);
    w.u32(v.version);
    w.u64(v.path);
  },
  read: (r) => ({ type: r.u8(), version: r.u32(), path: r.u64() }),
  show: (v) => `(${v.path.toString(16)} ${v.version} ${qidTypeLetters(v.type)})`,
  sample: { type: 0x80, version: 7, path: (1n << 48n) | 12345n },
};
/** count[4] then bytes: Tread/Rread/Twrite/Rreaddir payloads. Decoding returns a view, not a copy. */
export const data: FieldType<Buffer> = {
  size: (v) => 4 + v.length,
  write: (w, v) => {
    w.u32(v.length);
    w.bytes(v);
  },
  read: (r) => r.bytes(r.u32()),
  show: (v) => `<${v.length} bytes>`,
  sample: Buffer.from([0, 1, 2, 0xff, 0x80]),
};

/** count then that many elements (Twalk wnames, Rwalk wqids). */
export function list<T>(count: FieldType<number>, elem: FieldType<T>): FieldType<T[]> {
  return {
    size: (v) => count.size(v.length) + v.reduce((n, e) => n + elem.size(e), 0),
    write: (w, v) => {
      count.write(w, v.length);
      for (const e of v) elem.write(w, e);
    },
    read: (r) => {
      const n = count.read(r);
      const out: T[] = [];
      // Stop at the first overrun: a forged count of 65535 must not loop on zeros.
      for (let i = 0; i < n && !r.overrun; i++) out.push(elem.read(r));
      return out;
    },
    show: (v) => `[${v.map((e) => elem.show(e)).join(' ')}]`,
    sample: [elem.sample, elem.sample],
  };
}

function qidTypeLetters(t: number): string {
  let s = '';
  if (t & 0x80) s += 'd';
  if (t & 0x02) s += 'L';
  return s || 'f';
}
