// kill -9 in the middle of table writes, then reload: no prefix that was
// returned is lost, none is reused, and the dead writer's lock is gone.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMapper } from '../../lib/mapper/open.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';

const gate = await canLoop(['xfs']);
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const writer = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'table-writer.js');

/** Run the writer until it has printed `lines` ids, then kill -9 it; returns what it printed. */
function runAndKill(root: string, stateDir: string, first: number, lines: number): Promise<Map<number, bigint>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, root, stateDir, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const got = new Map<number, bigint>();
    let buf = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [i, id] = line.split(' ');
        if (id !== undefined) got.set(Number(i), BigInt(id));
        if (got.size >= lines) child.kill('SIGKILL'); // lands wherever the next write is
      }
    });
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself: ${err}`));
      else resolve(got);
    });
  });
}

(gate.ok ? test.serial : test.skip)(`kill -9 during table writes loses no returned prefix and reuses none${why}`, async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-crash-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const src = join(base, 'src');
  const stateDir = join(base, 'state');
  const imgs = await loopImages(t, src, ['xfs']);
  const root = imgs.dirs.xfs; // xfs takes 64 KiB values: a big table spans several chunks per write
  const dev = (await stat(root, { bigint: true })).dev;
  // 20000 prefixes: about 160 KiB, three chunks per generation.
  let m = await openMapper({ root, stateDir });
  await Promise.all(Array.from({ length: 20000 }, (_, i) => m.idFor(dev, (BigInt(i + 1) << 48n) | 1n)));
  await m.close();

  const returned = new Map<bigint, bigint>(); // ino -> id, every id a writer printed (so made durable)
  let next = 20001;
  let torn = 0;
  for (let round = 0; round < 6; round++) {
    const got = await runAndKill(root, stateDir, next, 3 + round * 4);
    for (const [i, id] of got) returned.set((BigInt(i) << 48n) | 1n, id);
    next = Math.max(next, ...got.keys()) + 1;
    // The killed writer's lock must not block: openMapper succeeds at once.
    m = await openMapper({ root, stateDir });
    if (m.table.candidates.some((c) => c.state === 'incomplete')) torn++;
    for (const [ino, id] of returned) t.is(await m.idFor(dev, ino), id, `the prefix of ino ${ino} survived`);
    const usedPrefixes = new Set([...returned.values()].map((id) => id >> 48n));
    const ino = (BigInt(0xfff0 - round) << 48n) | 1n;
    const fresh = await m.idFor(dev, ino);
    t.false(usedPrefixes.has(fresh >> 48n), 'a new pair never gets a prefix that was returned before');
    returned.set(ino, fresh);
    await m.close();
  }
  t.log(`${returned.size} acknowledged ids checked; ${torn} of 6 kills left an interrupted slot behind`);
});
