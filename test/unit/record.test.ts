import test from 'ava';
import { fingerprint } from '../../lib/table/checksum.js';
import { decodeBody, decodeChunk, encodeBody, encodeChunks, HEADER_SIZE, type TableData, TableCorruptError } from '../../lib/table/record.js';
import { assembleSlot } from '../../lib/table/slot.js';

function sample(nPrefixes: number): TableData {
  const devices = [
    { kind: 'root' as const, identity: 'root', alt: 'root' },
    { kind: 'uuid' as const, identity: 'uuid:ext4:0c197a8c-6d37-413c-9913-7e64ec92feff', alt: 'mount:ext4:/dev/loop0:ext4' },
    { kind: 'mount' as const, identity: 'mount:tmpfs:tmpfs:t mp/ü', alt: 'mount:tmpfs:tmpfs:t mp/ü' },
  ].map((d) => ({ ...d, fingerprint: fingerprint(d.identity) }));
  const prefixes = Array.from({ length: nPrefixes }, (_, i) => ({ device: i % 3, hi: (i * 7919) & 0xffff }));
  return { generation: 42n, devices, prefixes };
}

function chunksOf(t: TableData, max: number): Buffer[] {
  return encodeChunks(encodeBody(t), { flags: 0, prefixCount: t.prefixes.length, generation: t.generation }, max);
}

function reassemble(chunks: Buffer[]): TableData {
  const slot = assembleSlot(new Map(chunks.map((c, i) => [i, c])), (i) => `chunk${i}`);
  if (slot.state !== 'complete') throw new Error(`slot ${slot.state}`);
  return decodeBody(slot.payload, slot.generation, 'test');
}

test('codec round-trip: one chunk and many chunks give the same table', (t) => {
  for (const n of [0, 1, 100, 5000]) {
    const data = sample(n);
    t.deepEqual(reassemble(chunksOf(data, 65536)), data);
    const small = chunksOf(data, 256);
    t.true(small.every((c) => c.length <= 256));
    t.deepEqual(reassemble(small), data);
  }
});

test('fingerprint is xxhash64 of the identity', (t) => {
  t.is(fingerprint('abc'), 0x44bc2cf5ad770999n); // reference value of XXH64("abc", seed 0)
});

function refused(t: import('ava').ExecutionContext, c: Buffer, pattern: RegExp): void {
  const err = t.throws(() => decodeChunk(c, 'user.stableid.a.0'), { instanceOf: TableCorruptError });
  t.regex(err!.message, /^user\.stableid\.a\.0: /, 'names the xattr');
  t.regex(err!.message, pattern);
}

test('every corruption of a chunk is refused, naming it', (t) => {
  const [good] = chunksOf(sample(10), 65536);
  const flip = Buffer.from(good!);
  flip[HEADER_SIZE + 5]! ^= 0x40;
  refused(t, flip, /CRC32C mismatch/);
  const magic = Buffer.from(good!);
  magic.write('XXXX', 0, 'latin1');
  refused(t, magic, /bad magic/);
  refused(t, good!.subarray(0, good!.length - 3), /truncated chunk/);
  refused(t, good!.subarray(0, 10), /truncated/);
  const version = Buffer.from(good!);
  version.writeUInt16LE(2, 4);
  refused(t, version, /unknown table version 2/);
  const header = Buffer.from(good!);
  header.writeBigUInt64LE(43n, 16); // generation changed without the CRC: caught
  refused(t, header, /CRC32C mismatch/);
});

test('a body that lies about its contents is refused', (t) => {
  const body = encodeBody(sample(3));
  t.throws(() => decodeBody(body.subarray(0, body.length - 2), 1n, 'f'), { message: /truncated/ });
  t.throws(() => decodeBody(Buffer.concat([body, Buffer.alloc(1)]), 1n, 'f'), { message: /unexpected bytes/ });
  const badDev = Buffer.from(body);
  badDev.writeUInt32LE(99, body.length - 8);
  t.throws(() => decodeBody(badDev, 1n, 'f'), { message: /names device 99/ });
});

test('chunks that disagree are an interrupted write, not damage', (t) => {
  const older = chunksOf({ ...sample(300), generation: 5n }, 512);
  const newer = chunksOf({ ...sample(310), generation: 7n }, 512);
  const mixed = new Map(older.map((c, i) => [i, c]));
  mixed.set(0, newer[0]!); // chunk 0 of the new generation landed, the rest did not
  const slot = assembleSlot(mixed, (i) => `c${i}`);
  t.is(slot.state, 'incomplete');
  t.is(slot.state === 'incomplete' && slot.generation, 7n);
  const missing = new Map(newer.map((c, i) => [i, c]));
  missing.delete(2);
  t.like(assembleSlot(missing, (i) => `c${i}`), { state: 'incomplete', reason: 'c2 is missing (chunk 2 of ' + newer.length + ')' });
});
