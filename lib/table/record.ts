// The table's on-disk format, version 1. The same bytes go to xattrs on the
// export root or to a state file.
//
// A table is split into chunks; each chunk is one xattr value (or one run in
// the state file) and describes itself, so a reader can tell a chunk that is
// damaged (refuse) from a slot whose write was interrupted (ignore, the other
// slot still holds the last good generation). All integers little-endian.
//
//   chunk header (32 bytes)
//     0  magic     "SIDT"
//     4  u16       version (1)
//     6  u16       chunk index
//     8  u16       chunk count
//    10  u16       flags (bit 0 MOVED: the payload is the path of the state
//                  file that now holds the table)
//    12  u32       prefix count of the whole table
//    16  u64       generation (grows by one per write, across all stores)
//    24  u32       payload length of this chunk
//    28  u32       CRC32C of bytes 0..27 and the payload
//   payload: the chunks' payloads, concatenated, are the table body
//
//   table body
//     u32 device count, then per device:
//       u64 fingerprint (xxhash64 of identity), u8 kind, u8 0,
//       u16 identity length, u16 alt length, identity, alt (UTF-8)
//     u32 prefix count, then per prefix p = 1..count (fixed 8-byte records):
//       u32 device index, u16 ino >> 48, u16 0
import { crc32c } from './checksum.js';

export const MAGIC = Buffer.from('SIDT', 'latin1');
export const VERSION = 1;
export const HEADER_SIZE = 32;
export const FLAG_MOVED = 1;
export const PREFIX_RECORD_SIZE = 8;

/** How a device's identity was obtained, strongest first (DESIGN.md 1). */
export type IdentityKind = 'root' | 'uuid' | 'mount' | 'stdev';
const KINDS: IdentityKind[] = ['root', 'uuid', 'mount', 'stdev'];

export interface DeviceRecord {
  /** xxhash64 of identity: a short name for logs and `table show`. */
  fingerprint: bigint;
  kind: IdentityKind;
  /** The stable identity the device is matched by, e.g. "uuid:ext4:0c19...". */
  identity: string;
  /** A weaker identity (mount place) kept to recognise the device if the strong one is unreadable later. */
  alt: string;
}

export interface PrefixRecord {
  /** Index into TableData.devices. */
  device: number;
  /** ino >> 48 */
  hi: number;
}

export interface TableData {
  generation: bigint;
  devices: DeviceRecord[];
  /** prefixes[i] is prefix i + 1; prefix 0 is implicit (root device, hi 0). */
  prefixes: PrefixRecord[];
}

/** A table that cannot be trusted. `where` names the xattr or file. */
export class TableCorruptError extends Error {
  /** The CLI prints such errors as one line and exits with this code. */
  readonly exitCode = 1;
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${where}: ${reason}`);
    this.name = 'TableCorruptError';
  }
}

export function emptyTable(): TableData {
  return { generation: 0n, devices: [], prefixes: [] };
}

export function encodeBody(t: TableData): Buffer {
  const texts = t.devices.map((d) => [Buffer.from(d.identity, 'utf8'), Buffer.from(d.alt, 'utf8')] as const);
  let size = 4 + 4 + t.prefixes.length * PREFIX_RECORD_SIZE;
  for (const [a, b] of texts) size += 14 + a.length + b.length;
  const buf = Buffer.alloc(size);
  let o = buf.writeUInt32LE(t.devices.length, 0);
  t.devices.forEach((d, i) => {
    const [a, b] = texts[i]!;
    if (a.length > 0xffff || b.length > 0xffff) throw new RangeError(`device identity too long: ${d.identity}`);
    o = buf.writeBigUInt64LE(d.fingerprint, o);
    o = buf.writeUInt8(KINDS.indexOf(d.kind), o);
    o = buf.writeUInt8(0, o);
    o = buf.writeUInt16LE(a.length, o);
    o = buf.writeUInt16LE(b.length, o);
    o += a.copy(buf, o);
    o += b.copy(buf, o);
  });
  o = buf.writeUInt32LE(t.prefixes.length, o);
  for (const p of t.prefixes) {
    o = buf.writeUInt32LE(p.device, o);
    o = buf.writeUInt16LE(p.hi, o);
    o = buf.writeUInt16LE(0, o);
  }
  return buf;
}

export function decodeBody(body: Buffer, generation: bigint, where: string): TableData {
  const bad = (why: string) => new TableCorruptError(where, why);
  let o = 0;
  const need = (n: number) => {
    if (o + n > body.length) throw bad(`table body truncated at byte ${o} of ${body.length}`);
  };
  need(4);
  const ndev = body.readUInt32LE(o);
  o += 4;
  const devices: DeviceRecord[] = [];
  for (let i = 0; i < ndev; i++) {
    need(14);
    const fp = body.readBigUInt64LE(o);
    const kind = KINDS[body.readUInt8(o + 8)];
    const la = body.readUInt16LE(o + 10);
    const lb = body.readUInt16LE(o + 12);
    o += 14;
    if (!kind) throw bad(`device ${i} has unknown identity kind ${body.readUInt8(o - 6)}`);
    need(la + lb);
    const identity = body.toString('utf8', o, o + la);
    const alt = body.toString('utf8', o + la, o + la + lb);
    o += la + lb;
    devices.push({ fingerprint: fp, kind, identity, alt });
  }
  need(4);
  const n = body.readUInt32LE(o);
  o += 4;
  if (n > 0xffff) throw bad(`${n} prefixes, more than 65535`);
  need(n * PREFIX_RECORD_SIZE);
  const prefixes: PrefixRecord[] = [];
  // Plain byte reads: this loop is most of the load time of a full table (test/bench/micro/mapper.bench.ts).
  for (let i = 0; i < n; i++, o += PREFIX_RECORD_SIZE) {
    const device = (body[o]! | (body[o + 1]! << 8) | (body[o + 2]! << 16)) + body[o + 3]! * 0x1000000;
    if (device >= ndev) throw bad(`prefix ${i + 1} names device ${device}, but there are ${ndev}`);
    prefixes.push({ device, hi: body[o + 4]! | (body[o + 5]! << 8) });
  }
  if (o !== body.length) throw bad(`${body.length - o} unexpected bytes after the last prefix`);
  return { generation, devices, prefixes };
}

export interface ChunkHeader {
  index: number;
  count: number;
  flags: number;
  prefixCount: number;
  generation: bigint;
}

/** Split a payload into self-describing chunks of at most maxChunk bytes each (header included). */
export function encodeChunks(payload: Buffer, h: Omit<ChunkHeader, 'index' | 'count'>, maxChunk: number): Buffer[] {
  const room = maxChunk - HEADER_SIZE;
  if (room < 1) throw new RangeError(`chunk size ${maxChunk} leaves no room for data`);
  const count = Math.max(1, Math.ceil(payload.length / room));
  if (count > 0xffff) throw new RangeError(`table of ${payload.length} bytes needs more than 65535 chunks`);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const part = payload.subarray(i * room, (i + 1) * room);
    const c = Buffer.alloc(HEADER_SIZE + part.length);
    MAGIC.copy(c, 0);
    c.writeUInt16LE(VERSION, 4);
    c.writeUInt16LE(i, 6);
    c.writeUInt16LE(count, 8);
    c.writeUInt16LE(h.flags, 10);
    c.writeUInt32LE(h.prefixCount, 12);
    c.writeBigUInt64LE(h.generation, 16);
    c.writeUInt32LE(part.length, 24);
    part.copy(c, HEADER_SIZE);
    c.writeUInt32LE(crc32c(c.subarray(0, 28), part), 28);
    out.push(c);
  }
  return out;
}

/** Check one chunk on its own; throws TableCorruptError naming `where`. */
export function decodeChunk(c: Buffer, where: string): { header: ChunkHeader; payload: Buffer } {
  const bad = (why: string) => new TableCorruptError(where, why);
  if (c.length < HEADER_SIZE) throw bad(`truncated: ${c.length} bytes, a chunk header alone is ${HEADER_SIZE}`);
  if (!c.subarray(0, 4).equals(MAGIC)) throw bad(`bad magic ${JSON.stringify(c.subarray(0, 4).toString('latin1'))}, expected "SIDT"`);
  const version = c.readUInt16LE(4);
  if (version !== VERSION) throw bad(`unknown table version ${version} (this stableid reads version ${VERSION}; a newer stableid wrote it?)`);
  const len = c.readUInt32LE(24);
  if (c.length !== HEADER_SIZE + len) throw bad(`truncated chunk: header says ${len} data bytes, found ${c.length - HEADER_SIZE}`);
  const want = c.readUInt32LE(28);
  const got = crc32c(c.subarray(0, 28), c.subarray(HEADER_SIZE));
  if (want !== got) throw bad(`CRC32C mismatch (stored ${hex(want)}, computed ${hex(got)})`);
  const header: ChunkHeader = {
    index: c.readUInt16LE(6),
    count: c.readUInt16LE(8),
    flags: c.readUInt16LE(10),
    prefixCount: c.readUInt32LE(12),
    generation: c.readBigUInt64LE(16),
  };
  if (header.count === 0 || header.index >= header.count) throw bad(`chunk index ${header.index} of ${header.count}`);
  return { header, payload: c.subarray(HEADER_SIZE) };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
