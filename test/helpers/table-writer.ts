// Child process for the kill -9 test: allocates one new prefix after another
// on the export root's own device (ino = i << 48 | 1) and prints "i id" only
// after idFor resolved, i.e. after the prefix is durable. Usage:
//   node table-writer.js ROOT STATE_DIR FIRST_I
import { writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { openMapper } from '../../lib/mapper/open.js';

const [root, stateDir, first] = process.argv.slice(2) as [string, string, string];
const m = await openMapper({ root, stateDir });
const dev = (await stat(root, { bigint: true })).dev;
writeSync(1, 'ready\n');
for (let i = Number(first); i < 0xffff; i++) {
  const id = await m.idFor(dev, (BigInt(i) << 48n) | 1n);
  writeSync(1, `${i} ${id}\n`);
}
