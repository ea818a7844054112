// Thousands of random and mutated frames: every frame that can be delimited
// gets exactly one answer, the rest close only their own connection, the
// server never crashes or hangs, and nothing outside the export changes.
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import test from 'ava';
import { encode } from '../../lib/ninep/codec.js';
import * as M from '../../lib/ninep/messages.js';
import { NinepClient } from '../helpers/ninep-client.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';

const FRAMES = 6000;

/** mulberry32: a seeded generator, so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: random and mutated frames never crash, hang or escape the server', async (t) => {
  const seed = Number(process.env.NINEP_FUZZ_SEED ?? 0x9e3779b9);
  t.log(`seed ${seed} (NINEP_FUZZ_SEED to replay)`);
  const rand = rng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

  const { address, src } = await ninepFixture(t, { 'a/b/c.txt': 'hello', 'a/d.txt': 'world', 'e/': '' });
  const out = join(dirname(src), 'outside');
  await mkdir(out);
  await writeFile(join(out, 'secret'), 'secret');
  await chmod(join(out, 'secret'), 0o600);

  const names = ['a', 'b', 'c.txt', 'd.txt', 'e', '..', '.', '', 'x', 'outside', '../outside', 'a/b', '\0'];
  const values = (def: M.MsgDef): Record<string, unknown> =>
    Object.fromEntries(
      def.order.map(([k, ty]) => {
        if (/fid$/.test(k)) return [k, int(10) === 0 ? M.NOFID : int(8)];
        if (k === 'wnames') return [k, Array.from({ length: int(5) }, () => pick(names))];
        if (k === 'name' || k === 'oldname' || k === 'newname') return [k, pick(names)];
        if (k === 'symtgt') return [k, pick(['/', '../outside', 'a'])];
        if (k === 'offset') return [k, BigInt(int(64))];
        if (k === 'count') return [k, int(1 << 16)];
        if (k === 'msize') return [k, pick([4096, 8192, 1 << 20])];
        if (k === 'version') return [k, pick(['9P2000.L', '9P2000', 'x'])];
        if (k === 'data') return [k, Buffer.alloc(int(64), 0x41)];
        if (k === 'attr_size' || k === 'size') return [k, BigInt(int(32))];
        if (k === 'mode') return [k, pick([0o644, 0o755, 0o100644, 0o010644])];
        return [k, ty.sample];
      }),
    );
  const tdefs = [...M.byType.values()].filter((d) => d.name.startsWith('T'));

  let client = await fresh();
  async function fresh(): Promise<NinepClient> {
    const c = await NinepClient.connect(address);
    await c.version(8192);
    await c.rpc(M.Tattach, { fid: 0, afid: M.NOFID, uname: 'root', aname: '', n_uname: 0 });
    // Best effort: earlier frames may have renamed or removed these.
    await c.walk(0, 1, 'a').catch(() => undefined);
    await c.walk(0, 2, 'a', 'd.txt').catch(() => undefined);
    return c;
  }

  let answered = 0;
  let closed = 0;
  for (let i = 0; i < FRAMES; i++) {
    const tag = 1 + (i % 60000);
    let frame: Buffer;
    const kind = int(10);
    if (kind < 6) {
      // A valid message with plausible fields, then a few byte mutations past the header.
      const def = pick(tdefs);
      frame = Buffer.from(encode(def, tag, values(def) as never));
      for (let m = int(4); m > 0 && frame.length > 7; m--) frame[7 + int(frame.length - 7)] = int(256);
      if (int(4) === 0) frame = frame.subarray(0, 7 + int(frame.length - 6)); // truncate
      if (int(8) === 0) frame = Buffer.concat([frame, Buffer.alloc(int(16), int(256))]); // trailing junk
    } else if (kind < 9) {
      // Random body, random type (mostly T-messages).
      frame = Buffer.alloc(7 + int(80));
      for (let j = 7; j < frame.length; j++) frame[j] = int(256);
      frame[4] = int(3) ? pick(tdefs).type : int(256);
    } else {
      // Random header too: sizes that cannot be delimited close the connection.
      frame = Buffer.alloc(7 + int(20));
      for (let j = 0; j < frame.length; j++) frame[j] = int(256);
      frame.writeUInt32LE(pick([0, 1, 6, 0xffffffff, (4 << 20) + 1, 1 << 24]), 0);
    }
    if (kind < 9) frame.writeUInt32LE(frame.length, 0);
    frame.writeUInt16LE(tag, 5);
    frame = Buffer.from(frame);
    const answer = client.sendRaw(frame, tag).then(
      () => 'answered' as const,
      () => 'closed' as const,
    );
    const outcome = await Promise.race([answer, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000).unref())]);
    if (outcome === 'hung') t.fail(`frame ${i} (${frame.toString('hex').slice(0, 80)}) got no answer and no close`);
    if (outcome === 'hung') break;
    if (outcome === 'answered') answered++;
    else {
      closed++;
      client = await fresh();
    }
    if (i % 97 === 0) {
      client.close();
      client = await fresh(); // a new session now and then: fids and msize start over
    }
  }
  client.close();
  t.log(`${FRAMES} frames: ${answered} answered, ${closed} closed their connection`);
  t.true(answered > FRAMES / 2);

  // Still serving, and the outside untouched.
  const c = await fresh();
  t.teardown(() => c.close());
  await c.walk(0, 3);
  t.is((await c.getattr(3)).qid.type, M.QTDIR);
  t.deepEqual(await readdir(out), ['secret']);
  t.is(await readFile(join(out, 'secret'), 'utf8'), 'secret');
  t.is((await stat(join(out, 'secret'))).mode & 0o777, 0o600);
});

test('fuzz: a burst of pipelined requests all get answers', async (t) => {
  const { address } = await ninepFixture(t, { f: 'x'.repeat(100) });
  const c = await NinepClient.attached(address);
  t.teardown(() => c.close());
  await c.walk(0, 1, 'f');
  await c.rpc(M.Tlopen, { fid: 1, flags: 0 });
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < 2000; i++) {
    ops.push(i % 3 === 0 ? c.getattr(1) : i % 3 === 1 ? c.rpc(M.Tread, { fid: 1, offset: BigInt(i % 100), count: 10 }) : c.errno(M.Tgetattr, { fid: 7, request_mask: 0n }));
  }
  const results = await Promise.all(ops);
  t.is(results.length, 2000);
  t.is(results.filter((r) => r === 9).length, 666);
});
