// A FIFO swapped in on SRC in place of a regular file (issue 8): clients then
// open it through the mount (whose kernel still believes it a regular file)
// or through 9P Tlopen. Opening must never block the server: the opens
// answer (with a file or an error) and, meanwhile, other clients get their
// stat, read, listing and create answered within seconds.
//
// On main both fail: each open blocks one of the server's few I/O threads
// (FUSE: the kernel sends OPEN for what it believes a regular file; 9P: the
// file turns into a FIFO between Tlopen's lstat and its open), and once they
// are all taken every other client hangs (FUSE clients in D state).
import test, { type ExecutionContext } from 'ava';
import { closeSync, constants as C, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as M from '../../lib/ninep/messages.js';
import { canMount } from '../helpers/mount-fixture.js';
import { hostileMount, hostileNinep } from '../helpers/hostile-mount.js';
import { HostileSession, O } from '../helpers/hostile-ninep.js';
import { attack } from '../helpers/hostile-user.js';
import { verdict } from '../helpers/hostile-verdict.js';
import { run, runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const rootOnly = process.getuid?.() === 0 ? test.serial : test.skip;
const OPENERS = 6; // more than the server's I/O threads (libuv's 4, libfuse's workers)

/** In teardown, before the server stops: open every FIFO for writing, which frees any reader blocked in open(). */
function releaseFifos(t: ExecutionContext, paths: string[]): void {
  t.teardown(() => {
    for (const p of paths) {
      try {
        closeSync(openSync(p, C.O_RDWR | C.O_NONBLOCK));
      } catch {
        // not a FIFO (any more)
      }
    }
  });
}

serial(`a FIFO swapped in on SRC for a file the kernel believes regular: opening it through the mount never stops the mount${why}`, async (t) => {
  // Long caches: the kernel keeps the regular file's attributes and sends OPEN to the server.
  const h = await hostileMount(t, { layout: { files: [], dirFiles: [] }, options: ['entry_timeout=60', 'attr_timeout=60'] });
  const dir = join(h.src, 'fifo');
  await mkdir(dir);
  const names = Array.from({ length: OPENERS }, (_, i) => `f${i}`);
  for (const n of names) await writeFile(join(dir, n), 'regular\n');
  await runOk('stat', names.map((n) => join(h.mnt, 'fifo', n)), { timeoutMs: 5_000 });
  releaseFifos(t, names.map((n) => join(dir, n)));
  for (const n of names) {
    await runOk('rm', [join(dir, n)]);
    await runOk('mkfifo', [join(dir, n)]);
  }
  const opens = names.map((n) => attack('root', 'fifo', ['open', join(h.mnt, 'fifo', n)], 15_000).then((r) => r.report.outcomes.open, (e: Error) => ({ hung: e.message })));
  await new Promise((r) => setTimeout(r, 1000)); // the opens are in the server now
  const meanwhile = await h.alive();
  const outcomes = await Promise.all(opens);
  t.log(JSON.stringify(outcomes));
  const more = outcomes.filter((o) => 'hung' in o!).map((o) => `an open of the FIFO was never answered: ${JSON.stringify(o)}`);
  if (meanwhile) more.unshift(`while the FIFO opens were pending: ${meanwhile}`);
  await verdict(t, { canaries: h.canaries, alive: h.alive, more });
});

rootOnly('9P: Tlopen racing a file that flips between regular and FIFO on SRC never stops the server', async (t) => {
  const h = await hostileNinep(t, { layout: { files: [], dirFiles: [] } });
  const f = join(h.src, 'flip');
  await writeFile(f, 'regular\n');
  releaseFifos(t, [f, `${f}.tmp`]);
  const s = await HostileSession.attach(h.address);
  t.teardown(() => s.close());
  const stop = join(h.dir, 'stop');
  const flipper = attack('root', 'fifo', ['flip', f, '10', stop], 40_000);
  let hung: string | undefined;
  const report = await s.loop(10, 20_000, 8, async () => {
    const fid = await s.walk('walk', 0, 'flip');
    if (fid === undefined) return;
    try {
      if (await s.tally('open', M.Tlopen, { fid, flags: O.RDONLY })) await s.tally('read', M.Tread, { fid, offset: 0n, count: 16 });
    } catch (err) {
      hung ??= (err as Error).message; // a timeout: the server did not answer
    }
    await s.clunk(fid).catch(() => undefined);
  }).catch((err: Error) => ((hung ??= err.message), s.report));
  await writeFile(stop, '');
  const flips = (await flipper).report.notes.flips;
  t.log(`${report.attempts} opens and ${String(flips)} flips in ${report.seconds.toFixed(1)} s: ${JSON.stringify(report.outcomes)}`);
  await verdict(t, { canaries: h.canaries, alive: h.alive, more: hung ? [`a Tlopen was not answered: ${hung}`] : [] });
});
