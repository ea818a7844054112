import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';
import { attrAt } from '../helpers/backend-path.js';
import { PassthroughBackend } from '../../lib/backend/passthrough.js';
import { startNinepServer } from '../../lib/ninep/server.js';
import { FakeMapper } from '../helpers/fake-mapper.js';
import { NinepClient } from '../helpers/ninep-client.js';

async function setup(t: ExecutionContext) {
  const base = await mkdtemp(join(tmpdir(), 'stableid-9p-listen-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const backend = await PassthroughBackend.open({ root: base, mapper: new FakeMapper((await stat(base, { bigint: true })).dev) });
  t.teardown(() => backend.close());
  return { base, backend };
}

test('one server listens on TCP and a unix socket at once; close() releases both', async (t) => {
  const { base, backend } = await setup(t);
  const sock = join(base, 's.sock');
  const server = await startNinepServer({ backend, listen: ['tcp:127.0.0.1:0', `unix:${sock}`] });
  t.regex(server.addresses[0]!, /^tcp:127\.0\.0\.1:\d+$/);
  t.is(server.addresses[1], `unix:${sock}`);
  t.is((await stat(sock)).mode & 0o777, 0o600, 'no authentication in 9P: the socket is for its owner only');
  for (const a of server.addresses) {
    const c = await NinepClient.attached(a);
    t.is((await c.getattr(0)).qid.path, (await attrAt(backend, '')).ino, a);
    c.close();
  }
  await server.close();
  await t.throwsAsync(stat(sock), { code: 'ENOENT' });
  await t.throwsAsync(NinepClient.connect(server.addresses[0]!));
});

test('a stale unix socket is replaced; a live one is refused, not stolen', async (t) => {
  const { base, backend } = await setup(t);
  const sock = join(base, 's.sock');
  // A live listener (someone else's server) on the path.
  const other = createServer().listen(sock);
  await new Promise((r) => other.once('listening', r));
  await t.throwsAsync(startNinepServer({ backend, listen: `unix:${sock}` }), { message: /another server is listening/ });
  // A stale socket file: the listener is gone but the file stays (as after kill -9).
  other.close();
  await new Promise((r) => other.once('close', r));
  // A stale socket file: its server was killed -9, so the file stays and nobody answers.
  const child = spawn(process.execPath, ['-e', 'require("net").createServer().listen(process.argv[1], () => console.log("up"))', sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => child.stdout.once('data', r));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.true((await stat(sock)).isSocket(), 'the killed server left its socket file');
  const server = await startNinepServer({ backend, listen: `unix:${sock}` });
  t.teardown(() => server.close());
  const c = await NinepClient.attached(`unix:${sock}`);
  t.truthy(await c.getattr(0));
  c.close();
});

test('a TCP port in use gives a clear error naming it', async (t) => {
  const { backend } = await setup(t);
  const first = await startNinepServer({ backend, listen: 'tcp:127.0.0.1:0' });
  t.teardown(() => first.close());
  await t.throwsAsync(startNinepServer({ backend, listen: first.addresses[0] }), { message: /cannot listen on tcp:127\.0\.0\.1:\d+: .*EADDRINUSE/ });
});
