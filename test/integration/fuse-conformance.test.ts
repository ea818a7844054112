// The POSIX conformance suite (conformance.ts) on a real stableid FUSE mount,
// each scenario compared with the same operations on a raw directory.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture, tempDir } from '../helpers/mount-fixture.js';
import { observe, scenariosFor } from './conformance.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

// Default: reads and writes served by the addon on the source fds. threads=1:
// every request through JS (the data scenarios again).
const runs = [
  ...scenariosFor({ xattr: true, hardlinks: true, root: true }).map((name) => ({ name, options: [] as string[] })),
  ...['fileBasic', 'truncation', 'sparse', 'append'].map((name) => ({ name, options: ['threads=1'] })),
];

for (const { name, options } of runs) {
  serial(`fuse conformance: ${name}${options.length ? ` (-o ${options.join(',')})` : ''}${why}`, async (t) => {
    const raw = join(await tempDir(t, 'stableid-raw-'), 'root');
    await mkdir(join(raw, 'work'), { recursive: true });
    const fx = await mountFixture(t, 'fuse', { options });
    await mkdir(join(fx.src, 'work'));
    const expected = await observe(name, join(raw, 'work'));
    const actual = await observe(name, join(fx.mnt, 'work'));
    t.deepEqual(actual, expected);
    t.log(JSON.stringify(actual).slice(0, 400));
  });
}
