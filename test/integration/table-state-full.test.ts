// A state file written on a nearly full filesystem: the write is refused and
// the last good table stays whole (write(2) may come back short without an error).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeChunks } from '../../lib/table/record.js';
import { StateFileStore } from '../../lib/table/state-file-store.js';

const exec = promisify(execFile);
const root = process.getuid?.() === 0;

(root ? test : test.skip)(`a full filesystem refuses the new generation and keeps the old one${root ? '' : ' (skipped: needs root to mount a tmpfs)'}`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-full-'));
  await exec('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'stableid-full', dir]);
  t.teardown(async () => {
    await exec('umount', ['-l', dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const store = new StateFileStore(join(dir, 'x.table'));
  const gen = (n: bigint, size: number, fill: number) => (max: number) => encodeChunks(Buffer.alloc(size, fill), { flags: 0, prefixCount: 0, generation: n }, max);
  await store.writeSlot(1n, gen(1n, 1000, 1));
  const before = await readFile(join(dir, 'x.table'));
  await writeFile(join(dir, 'fill'), Buffer.alloc(64 * 1024 - 8192)).catch(() => undefined);

  await t.throwsAsync(() => store.writeSlot(2n, gen(2n, 20000, 2)), { code: 'ENOSPC' });
  t.true((await readFile(join(dir, 'x.table'))).equals(before), 'the previous generation is untouched');
  const [slot] = await store.readSlots();
  t.is(slot?.state, 'complete');
  t.is(slot?.state === 'complete' ? slot.generation : -1n, 1n);
});
