// The op codes are written twice, as `enum op` in the addon (common.h) and as
// `Op` in lib/fuse/native.ts (a const enum: inlined, nothing to compare at
// run time). A request decoded under the wrong name would be answered as
// another op, so the two lists are compared here, name by name.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { fuseOpName } from '../../lib/status/names.js';
import { REPO } from '../helpers/mount-fixture.js';

function names(source: string, start: RegExp): string[] {
  const m = start.exec(source);
  if (!m) throw new Error(`no ${start} in the source`);
  const body = source.slice(m.index + m[0].length, source.indexOf('}', m.index));
  return body
    .split(',')
    .map((x) => x.replace(/\/\/.*$/gm, '').split('=')[0]!.trim())
    .filter(Boolean);
}

test('the addon and native.ts list the same op codes in the same order', async (t) => {
  const c = names(await readFile(join(REPO, 'lib/fuse/native/common.h'), 'utf8'), /enum op \{/).map((n) => n.replace(/^OP_/, ''));
  const ts = names(await readFile(join(REPO, 'lib/fuse/native.ts'), 'utf8'), /export const enum Op \{/);
  t.true(c.length > 30, `parsed ${c.length} op codes`);
  t.deepEqual(ts, c);
  t.deepEqual(c.slice(1).map((_, i) => fuseOpName(i + 1)), c.slice(1), "every op has its name in the status counters (lib/status/names.ts)");
});
