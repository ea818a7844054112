// diod's own 9P2000.L clients against our server: they send Tauth first,
// walk from open fids and negotiate msize their own way.
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ninepFixture } from '../helpers/ninep-fixture.js';
import { run, which } from '../helpers/exec.js';
import { startNinepServer } from '../../lib/ninep/server.js';

const diodls = await which('diodls');
const diodcat = await which('diodcat');
const skip = !diodls || !diodcat ? 'diod is not installed (apt-get install diod; CI installs it from .ci/deps.d/ninep.txt)' : '';
const check = skip ? test.skip : test.serial;

async function tcpFixture(t: Parameters<typeof ninepFixture>[0], files: Record<string, string>) {
  const f = await ninepFixture(t, files);
  const server = await startNinepServer({ backend: f.backend, listen: 'tcp:127.0.0.1:0', exportPath: f.src });
  t.teardown(() => server.close());
  return { ...f, hostPort: server.addresses[0]!.slice('tcp:'.length) };
}

check(`diodls -l lists the export and its subdirectories${skip ? ` (${skip})` : ''}`, async (t) => {
  const { src, hostPort } = await tcpFixture(t, { 'a.txt': 'hello', 'sub/b.txt': '12345678', 'sub/deeper/': '' });
  const top = await run(diodls!, ['-s', hostPort, '-a', src, '-l', '-t', '20'], { timeoutMs: 30_000 });
  t.is(top.code, 0, top.stderr);
  const lines = top.stdout.toString().trim().split('\n');
  const byName = new Map(lines.map((l) => [l.trim().split(/\s+/).at(-1)!, l]));
  t.deepEqual([...byName.keys()].sort(), ['.', '..', 'a.txt', 'sub']);
  t.regex(byName.get('a.txt')!, /^-rw.*\s5\s.*a\.txt$/);
  t.regex(byName.get('sub')!, /^d/);
  const sub = await run(diodls!, ['-s', hostPort, '-a', src, '-l', '-t', '20', 'sub'], { timeoutMs: 30_000 });
  t.is(sub.code, 0, sub.stderr);
  t.regex(sub.stdout.toString(), /\s8\s.*b\.txt/);
  t.regex(sub.stdout.toString(), /^d.*deeper$/m);
});

check(`diodcat reads a large file intact at 64 KiB and 1 MiB msize${skip ? ` (${skip})` : ''}`, async (t) => {
  const { src, hostPort } = await tcpFixture(t, {});
  const data = randomBytes(48 * 1024 * 1024 + 4321);
  await writeFile(join(src, 'big.bin'), data);
  const want = createHash('sha256').update(data).digest('hex');
  for (const msize of ['65536', '1048576']) {
    const r = await run(diodcat!, ['-s', hostPort, '-a', src, '-m', msize, '-t', '60', 'big.bin'], { timeoutMs: 120_000 });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout.length, data.length, `msize ${msize}`);
    t.is(createHash('sha256').update(r.stdout).digest('hex'), want, `msize ${msize}`);
  }
});

check(`diod clients get an error, not a hang, for a missing file or a wrong aname${skip ? ` (${skip})` : ''}`, async (t) => {
  const { src, hostPort } = await tcpFixture(t, {});
  const missing = await run(diodcat!, ['-s', hostPort, '-a', src, '-t', '20', 'nope'], { timeoutMs: 30_000 });
  t.not(missing.code, 0);
  t.regex(missing.stderr, /No such file/i);
  const wrong = await run(diodls!, ['-s', hostPort, '-a', '/etc', '-t', '20'], { timeoutMs: 30_000 });
  t.not(wrong.code, 0);
});
