import test from 'ava';
import { decode, DecodeError, encode, encodeParts, show } from '../../lib/ninep/codec.js';
import * as M from '../../lib/ninep/messages.js';

// Every message of DESIGN.md section 5 (T and R), by number.
const expected = [7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33, 40, 41,
  50, 51, 52, 53, 54, 55, 70, 71, 72, 73, 74, 75, 76, 77, 100, 101, 102, 103, 104, 105, 108, 109, 110, 111, 116, 117,
  118, 119, 120, 121, 122, 123];

test('every 9P2000.L message is described', (t) => {
  t.deepEqual([...M.byType.keys()].sort((a, b) => a - b), expected);
});

test('every message round-trips through encode and decode', (t) => {
  for (const def of M.byType.values()) {
    const value = Object.fromEntries(def.order.map(([name, type]) => [name, type.sample]));
    const frame = encode(def, 0x1234, value as never);
    t.is(frame.readUInt32LE(0), frame.length, def.name);
    const back = decode(frame);
    t.is(back.def, def);
    t.is(back.tag, 0x1234);
    t.deepEqual(back.value, value, def.name);
    // The vectored form (payload not copied) is the same bytes.
    t.true(Buffer.concat(encodeParts(def, 0x1234, value as never)).equals(frame), `${def.name} parts`);
  }
});

test('Twalk wire bytes match the spec layout', (t) => {
  const frame = encode(M.Twalk, 1, { fid: 1, newfid: 2, wnames: ['a', 'bc'] });
  t.deepEqual(
    [...frame],
    [24, 0, 0, 0, 110, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, 0x61, 2, 0, 0x62, 0x63],
  );
  t.is(show(M.Twalk, 1, decode(frame).value), 'Twalk{tag:1 fid:1 newfid:2 wnames:[a bc]}');
});

test('truncated bodies, trailing bytes and unknown types are DecodeErrors carrying the tag', (t) => {
  const good = encode(M.Tlcreate, 9, { fid: 1, name: 'file', flags: 0, mode: 0o644, gid: 0 });
  const cut = Buffer.from(good.subarray(0, good.length - 3));
  cut.writeUInt32LE(cut.length, 0);
  t.is(t.throws(() => decode(cut), { instanceOf: DecodeError })!.tag, 9);
  const long = Buffer.concat([good, Buffer.from([0])]);
  long.writeUInt32LE(long.length, 0);
  t.throws(() => decode(long), { message: /trailing/ });
  const unknown = Buffer.from([7, 0, 0, 0, 200, 5, 0]);
  const e = t.throws(() => decode(unknown), { instanceOf: DecodeError })!;
  t.is(e.type, 200);
  t.is(e.tag, 5);
});

test('a string whose length runs past the frame is an overrun, not a crash', (t) => {
  // Twalk with one name claiming 60000 bytes.
  const f = Buffer.from([21, 0, 0, 0, 110, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0x60, 0xea, 0x61, 0x62]);
  t.throws(() => decode(f), { message: /truncated/ });
  // A list count of 65535 with no elements stops at the first overrun.
  const g = Buffer.from([17, 0, 0, 0, 110, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff]);
  t.throws(() => decode(g), { message: /truncated/ });
});
