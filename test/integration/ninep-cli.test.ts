// `stableid serve-9p SRC --listen ADDR`, run in-process through runMain.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runMain } from '../../lib/cli/main.js';
import * as M from '../../lib/ninep/messages.js';
import { NinepClient } from '../helpers/ninep-client.js';

function startCli(argv: string[]) {
  let out = '';
  let err = '';
  let stop!: (s: NodeJS.Signals) => void;
  const stopSignal = new Promise<NodeJS.Signals>((r) => (stop = r));
  const done = runMain(argv, { io: { out: (s) => void (out += s), err: (s) => void (err += s) }, stopSignal });
  return { done, stop: () => stop('SIGTERM'), out: () => out, err: () => err };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

test.serial('serve-9p serves SRC with the persistent mapper until stopped; a second server on SRC is refused', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-9p-cli-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const src = join(base, 'src');
  await mkdir(src);
  await writeFile(join(src, 'hello.txt'), 'hi');
  const sock = join(base, '9p.sock');
  const cli = startCli(['serve-9p', src, '--listen', `unix:${sock}`, '--state-dir', join(base, 'state')]);
  t.teardown(() => cli.stop());
  await until(() => cli.out().includes('serving'), 'the serving line');
  t.regex(cli.out(), new RegExp(`serving ${src} over 9P2000.L at unix:${sock}`));

  const c = await NinepClient.attached(`unix:${sock}`);
  const q = await c.walk(0, 1, 'hello.txt');
  t.is((await c.getattr(1)).qid.path, q[0]!.path);
  await c.rpc(M.Tlopen, { fid: 1, flags: 0 });
  t.is((await c.readAll(1)).toString(), 'hi');

  const second = startCli(['serve-9p', src, '--listen', `unix:${join(base, 'other.sock')}`, '--state-dir', join(base, 'state')]);
  t.is(await second.done, 1);
  t.regex(second.err(), /stableid: .*(lock|serv)/i);

  c.close();
  cli.stop();
  t.is(await cli.done, 0);
});

test.serial('serve-9p refuses a bad listen address and a missing SRC with one line', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-9p-cli-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const bad = startCli(['serve-9p', base, '--listen', 'udp:1.2.3.4', '--state-dir', join(base, 'state')]);
  t.is(await bad.done, 1);
  t.regex(bad.err(), /expected tcp:HOST:PORT .* or unix:PATH/);
  const missing = startCli(['serve-9p', join(base, 'nope')]);
  t.is(await missing.done, 1);
  t.regex(missing.err(), /cannot serve .*nope: no such directory/);
});
