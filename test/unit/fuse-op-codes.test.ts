// The op table is written once per side: native/ops.c and lib/fuse/op-table.ts.
// Loading the addon compares the two (checkOpTable); here: that comparison
// runs and refuses a drifted table, and every kernel opcode in op-table.ts is
// the one the kernel's own header (linux/fuse.h) gives that name.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { native } from '../../lib/fuse/native.js';
import { checkOpTable, OPS } from '../../lib/fuse/op-table.js';
import { fuseOpName } from '../../lib/status/names.js';

test('the addon loads with the same op table and attribute layout as the TypeScript side', (t) => {
  const nat = native();
  const rows = nat.opTable();
  t.true(rows.length >= Object.keys(OPS).length, `${rows.length} rows`);
  t.notThrows(() => checkOpTable(rows));
  const drifted = rows.map(([code, name, kinds]): [number, string, string] => (name === 'SETLK' ? [code, name, 'fBuiiu'] : [code, name, kinds]));
  t.throws(() => checkOpTable(drifted), { message: /SETLK: addon 32 'fBuiiu', op-table.ts 32 'fBuiiuz'/ });
  t.throws(() => checkOpTable(rows.filter(([, name]) => name !== 'LSEEK')), { message: /op-table.ts has LSEEK, the addon does not/ });
});

test("op-table.ts's codes are the kernel's (linux/fuse.h enum fuse_opcode)", async (t) => {
  const header = await readFile('/usr/include/linux/fuse.h', 'utf8');
  const kernel = new Map<string, number>();
  for (const m of header.matchAll(/^\s*FUSE_([A-Z_0-9]+)\s*=\s*(\d+),/gm)) kernel.set(m[1], Number(m[2]));
  t.true(kernel.size > 40, `parsed ${kernel.size} opcodes`);
  for (const [name, [code]] of Object.entries(OPS)) {
    if (name === 'ENDED' || name === 'FLOCK') continue; // ours: the end of the session; flock(2) arrives as SETLK with FUSE_LK_FLOCK
    t.is(kernel.get(name), code, name);
    t.is(fuseOpName(code), name, 'the status counters name it');
  }
});
