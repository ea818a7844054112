// The mount's life: foreground serving, clean exits on signals and external
// umount, one-line errors for every bad start, and recovery after kill -9.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { mountAt } from '../../lib/fuse/mountinfo.js';
import { canMount, forceUnmount, mountFixture, REPO, startServer, tempDir } from '../helpers/mount-fixture.js';
import { probeTree } from '../helpers/probe.js';
import { run, runOk, Started } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  serial(`${signal} unmounts cleanly and exits 0${why}`, async (t) => {
    const fx = await mountFixture(t);
    await runOk('touch', [join(fx.mnt, 'f')], { timeoutMs: 10_000 });
    const r = await fx.server.stop(signal);
    t.deepEqual(r, { code: 0, signal: null });
    t.is(await mountAt(fx.mnt), undefined, 'nothing left mounted');
  });
}

serial(`an external umount ends the server with exit 0${why}`, async (t) => {
  const fx = await mountFixture(t);
  await runOk('fusermount3', ['-u', fx.mnt], { timeoutMs: 10_000 });
  t.deepEqual(await fx.server.proc.exit(10_000), { code: 0, signal: null });
});

serial(`SIGTERM with a file still open on the mount still exits 0${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'held'), 'x');
  const holder = new Started('sh', ['-c', `exec 3<"${join(fx.mnt, 'held')}"; echo holding; exec sleep 60`]);
  t.teardown(() => void holder.child.kill('SIGKILL'));
  await holder.waitFor(/holding/);
  const started = Date.now();
  const r = await fx.server.stop('SIGTERM');
  t.deepEqual(r, { code: 0, signal: null });
  t.true(Date.now() - started < 8000, 'the busy mount is aborted after the grace period');
  t.is(await mountAt(fx.mnt), undefined);
});

/** Runs stableid-mount expecting a refusal: exit non-zero with one line on stderr. */
async function refusal(args: string[]): Promise<{ code: number | null; line: string }> {
  const r = await run(process.execPath, [join(REPO, 'bin/stableid-mount'), ...args], { timeoutMs: 20_000 });
  const lines = r.stderr.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line, got:\n${r.stderr}`);
  return { code: r.code, line: lines[0] };
}

serial(`bad starts fail with one clear line${why}`, async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const mnt = join(dir, 'mnt');
  await mkdir(src);
  await mkdir(mnt);
  await writeFile(join(dir, 'file'), 'x');

  let r = await refusal([src, join(dir, 'missing')]);
  t.is(r.code, 1);
  t.regex(r.line, /mountpoint .*missing does not exist: create it first \(mkdir -p/);

  r = await refusal([src, join(dir, 'file')]);
  t.is(r.code, 1);
  t.regex(r.line, /mountpoint .*file is not a directory/);

  r = await refusal([join(dir, 'file'), mnt]);
  t.is(r.code, 1);
  t.regex(r.line, /source .*file is not a directory/);

  r = await refusal([join(dir, 'nope'), mnt]);
  t.is(r.code, 1);
  t.regex(r.line, /source .*nope does not exist/);

  r = await refusal([src, join(src, 'inner')]);
  t.regex(r.line, /inside the source/);

  await writeFile(join(mnt, 'x'), 'x');
  r = await refusal([src, mnt]);
  t.is(r.code, 1);
  t.regex(r.line, /mountpoint .*mnt is not empty: use an empty directory, or -o nonempty/);

  const busy = join(dir, 'busy');
  await mkdir(busy);
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'stableid-busy', busy]);
  t.teardown(() => forceUnmount(busy));
  r = await refusal([src, busy]);
  t.is(r.code, 1);
  t.regex(r.line, /mountpoint .*busy is busy: stableid-busy \(tmpfs\) is mounted there; unmount it first/);

  r = await refusal([src, mnt, '-o', 'attr_timeout=soon']);
  t.is(r.code, 2);
  t.regex(r.line, /attr_timeout= needs a number of seconds/);
});

serial(`kill -9 leaves a stale mount that the next start cleans up, ids unchanged${why}`, async (t) => {
  const dir = await tempDir(t, 'stableid-kill-');
  const src = join(dir, 'src');
  await mkdir(join(src, 'd'), { recursive: true });
  // A second filesystem inside SRC, so its ids carry a prefix from the persistent table.
  await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'stableid-kill', join(src, 'd')], { timeoutMs: 10_000 });
  t.teardown(async () => void (await run('umount', ['-l', join(src, 'd')], { timeoutMs: 10_000 })));
  await writeFile(join(src, 'd/f'), 'data');
  const fx = await mountFixture(t, 'fuse', { src });
  const before = await probeTree(fx.mnt);
  t.true(before.get('d/f')!.ino >= 1n << 48n, 'd/f has a table-backed id');
  // Mid-workload: a client keeps writing while the server dies.
  const writer = new Started('sh', ['-c', `i=0; while [ $i -lt 100000 ]; do echo $i > "${join(fx.mnt, 'd/w')}" || exit 0; i=$((i+1)); done`]);
  t.teardown(() => void writer.child.kill('SIGKILL'));
  for (let i = 0; i < 100 && !(await stat(join(src, 'd/w')).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
  fx.server.proc.child.kill('SIGKILL');
  await fx.server.proc.exited;
  await writer.exit(10_000);
  const st = await run('stat', [fx.mnt], { timeoutMs: 10_000 });
  t.regex(st.stderr, /Transport endpoint is not connected/, 'the dead server left a stale mount');
  const server = await startServer(t, 'cli', fx.src, fx.mnt);
  await server.proc.waitFor(/cleaned up a stale stableid mount/);
  t.pass('the next start cleaned up the stale mount');
  const after = await probeTree(fx.mnt);
  for (const [p, e] of before) t.deepEqual(after.get(p), e, p);
});
