// Issue 12, numbers at the edge: offsets and sizes up to 2^63-1 give the raw
// directory's errno (EFBIG, EINVAL) or its short read, on both I/O paths (the
// addon's worker threads and, with threads=1, JS), and never an exception in
// the server.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture, REPO } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (${gate.reason})`;

async function observe(code: string, dir: string): Promise<unknown> {
  const r = await run('/usr/bin/python3', ['-c', code, dir], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${dir}: exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const EDGES = await readFile(join(REPO, 'test/integration/fuse-posix-edges.py'), 'utf8');

// threads=1 sends reads and writes through JS; direct_io makes the kernel
// pass reads past the end of file to the server.
for (const options of [['threads=4'], ['threads=1'], ['threads=1', 'direct_io']]) {
  serial(`pwrite, pread, ftruncate and truncate at 2^44 .. 2^63-1 answer as the raw directory (-o ${options.join(',')})${why}`, async (t) => {
    const fx = await mountFixture(t, 'fuse', { options });
    const want = await observe(EDGES, fx.dir);
    t.is((want as Record<string, unknown>)['truncate 2^63-1'], 'EFBIG');
    t.deepEqual(await observe(EDGES, fx.mnt), want);
    t.false(/RangeError|TypeError|ERR_/.test(fx.server.proc.stderr), fx.server.proc.stderr);
  });
}
