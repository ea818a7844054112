// Run as its own process by test/integration/open-by-id.test.ts, so nothing
// of the first process (mapper, descriptors, dentries) helps: opens each
// asked id on SRC with IdOpener and prints one JSON line per ask.
//   node open-by-id-child.js SRC STATE_DIR < [{ id, generation?, parent? }, ...]
import { closeSync, openSync, readFileSync } from 'node:fs';
import { IdOpener } from '../../lib/backend/open-by-id.js';
import { openMapper } from '../../lib/mapper/open.js';

interface Ask {
  id: string;
  generation?: number;
  parent?: boolean;
}

const [src, stateDir] = process.argv.slice(2) as [string, string];
let input = '';
for await (const chunk of process.stdin) input += String(chunk); // a pipe or socket: /dev/stdin may not open
const asks = JSON.parse(input) as Ask[];
const logs: string[] = [];
const mapper = await openMapper({ root: src, stateDir, log: (l) => logs.push(l) });
const opener = new IdOpener({ mapper, log: (l) => logs.push(l) });
for (const ask of asks) {
  try {
    const got = await opener.open(BigInt(ask.id), ask.generation);
    const isDir = (got.mode & 0o170000) === 0o040000;
    let content: string | undefined;
    if (!isDir) {
      // An O_PATH descriptor cannot be read: open the file it names through /proc.
      const rfd = openSync(`/proc/self/fd/${got.fd}`, 'r');
      content = readFileSync(rfd, 'utf8');
      closeSync(rfd);
    }
    let parentIno: string | undefined;
    if (ask.parent && isDir) {
      const p = await opener.parent(got.fd);
      parentIno = String(p.ino);
      closeSync(p.fd);
    }
    closeSync(got.fd);
    console.log(JSON.stringify({ id: ask.id, ok: true, ino: String(got.ino), dev: String(got.dev), generation: got.generation, contained: got.contained, content, parentIno }));
  } catch (err) {
    console.log(JSON.stringify({ id: ask.id, ok: false, code: (err as { code?: string }).code, message: (err as Error).message }));
  }
}
await opener.close();
await mapper.close();
console.log(JSON.stringify({ logs }));
