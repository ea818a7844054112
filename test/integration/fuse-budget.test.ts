// Through a real mount, more files than the descriptor budget: the kernel
// holds every node while the server keeps at most max_open_files descriptors
// for them, letting the least recently used go and reopening each by file
// handle when the kernel uses it again: the same file, its content, its id.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const BUDGET = 100;
const DIRS = 10;
const FILES = 100;

const CHECK = String.raw`
import os, sys
root = sys.argv[1]
bad, seen = [], 0
for rnd in range(2):
    for d in sorted(os.listdir(root)):
        for f in sorted(os.listdir(os.path.join(root, d))):
            p = os.path.join(root, d, f)
            with open(p) as fh:
                if fh.read() != d + '/' + f: bad.append(p)
            seen += 1
print(seen, len(bad))
`;

serial(`more files than max_open_files: every one still opens as itself, and the server stays within its budget${gate.ok ? '' : ` (${gate.reason})`}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: [`max_open_files=${BUDGET}`, 'entry_timeout=60,attr_timeout=60'] });
  for (let d = 0; d < DIRS; d++) {
    await mkdir(join(fx.src, `d${d}`));
    for (let f = 0; f < FILES; f++) await writeFile(join(fx.src, `d${d}`, `f${f}`), `d${d}/f${f}`);
  }
  // Two rounds: the second reuses nodes the kernel still holds, whose descriptors were let go.
  const [seen, bad] = (await runOk('python3', ['-c', CHECK, fx.mnt], { timeoutMs: 120_000 })).trim().split(' ').map(Number);
  t.is(seen, 2 * DIRS * FILES);
  t.is(bad, 0, 'every file read back its own content');
  const inodes = (await runOk('find', [fx.mnt, '-type', 'f', '-printf', '%i\n'], { timeoutMs: 60_000 })).trim().split('\n');
  t.is(new Set(inodes).size, DIRS * FILES, 'one id per file');
  const fds = (await readdir(`/proc/${fx.server.proc.child.pid}/fd`)).length;
  t.true(fds < BUDGET + 64, `the server holds ${fds} descriptors for ${DIRS * FILES} files the kernel holds (budget ${BUDGET})`);
});
