// Issue 12, numbers at the edge: offsets and sizes up to 2^63-1 give the raw
// directory's errno (EFBIG, EINVAL) or its short read, on both I/O paths (the
// addon's worker threads and, with threads=1, JS), and never an exception in
// the server.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { canMount, mountFixture, REPO, tempDir } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (${gate.reason})`;
const loopGate = gate.ok ? await canLoop(['xfs']) : gate;

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

const XATTRS = String.raw`
import errno, json, os, sys
p = os.path.join(sys.argv[1], 'f')
open(p, 'w').close()
def code(fn):
    try: return fn()
    except OSError as e: return errno.errorcode[e.errno]
names = ['user.%d' % i for i in range(10000)]
value = lambda i: str(i).encode() * (1 + i % 7)
errs = [code(lambda: os.setxattr(p, n, value(i))) for i, n in enumerate(names)]
big = code(lambda: os.setxattr(p, 'user.big', bytes(range(256)) * 256))   # 64 KiB, the largest value
full = code(lambda: os.listxattr(p))                   # over 64 KiB of names: E2BIG from the kernel
got = sum(code(lambda: os.getxattr(p, n)) == value(i) for i, n in enumerate(names))
removed = sum(code(lambda: os.removexattr(p, n)) is None for n in names[::2])
after = code(lambda: os.listxattr(p))
print(json.dumps({
  'setErrors': sorted(set(e for e in errs if e is not None)), 'big': big,
  'bigBack': code(lambda: os.getxattr(p, 'user.big')) == bytes(range(256)) * 256,
  'full': full if isinstance(full, str) else len(full), 'got': got, 'removed': removed,
  'after': after if isinstance(after, str) else sorted(after) == sorted(names[1::2] + ['user.big']),
}))
`;

(loopGate.ok ? test.serial : test.skip)(`10 000 xattrs on one file: set, get, list and remove as on the raw filesystem (xfs)${loopGate.ok ? '' : ` (${loopGate.reason})`}`, async (t) => {
  const src = join(await tempDir(t), 'src');
  const imgs = await loopImages(t, src, ['xfs'], { sizeMiB: 300 });
  const fx = await mountFixture(t, 'fuse', { src });
  await run('mkdir', [join(imgs.dirs.xfs, 'raw'), join(imgs.dirs.xfs, 'through')]);
  const want = await observe(XATTRS, join(imgs.dirs.xfs, 'raw'));
  t.deepEqual(want, { setErrors: [], big: null, bigBack: true, full: 'E2BIG', got: 10000, removed: 5000, after: true });
  t.deepEqual(await observe(XATTRS, join(fx.mnt, 'xfs/through')), want);
});
