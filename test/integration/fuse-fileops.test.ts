// The file ops a file server on top needs, on a real mount, compared with the
// raw directory: SEEK_DATA/SEEK_HOLE, fallocate (punching holes included),
// copy_file_range, and advisory locks (fcntl record locks, flock) that
// conflict between processes on the mount and with processes on SRC. Every
// client is a child process (test/helpers/fileops.py); the serving process
// never touches its own mount.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { statusJson } from '../helpers/admin-fixture.js';
import { canMount, mountFixture, REPO } from '../helpers/mount-fixture.js';
import { runOk, Started } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const PROBE = join(REPO, 'test/helpers/fileops.py');
const MiB = 1 << 20;

/** How many requests of each op reached the server's JavaScript (`stableid status`): proof that the server, not the kernel's fallback, did the op. */
async function served(mnt: string): Promise<Record<string, number>> {
  const fuse = (await statusJson(mnt)).frontends.find((f) => f.kind === 'fuse');
  if (!fuse) throw new Error(`stableid status ${mnt}: no FUSE front-end`);
  return fuse.requests.byOp;
}

async function probe(...args: string[]): Promise<unknown> {
  return JSON.parse(await runOk('python3', [PROBE, ...args], { timeoutMs: 15_000 }));
}

/**
 * The map of a file through the mount and on SRC, read again after the
 * attribute timeout (1 s) while they differ: ext4 may add an extent-tree
 * block to SRC's file after the mount's GETATTR read it, and the kernel keeps
 * st_blocks for that long (fallocate invalidates only size and times).
 */
async function settledMap(onMount: string, onSrc: string): Promise<[{ blocks: number }, unknown]> {
  for (let i = 0; ; i++) {
    const pair: [{ blocks: number }, unknown] = [(await probe('map', onMount)) as { blocks: number }, await probe('map', onSrc)];
    if (i === 2 || JSON.stringify(pair[0]) === JSON.stringify(pair[1])) return pair;
    await new Promise((resolve) => setTimeout(resolve, 1100));
  }
}

/** A child holding a lock until it prints "releasing" and exits (or is killed at teardown). */
async function holder(t: ExecutionContext, ...args: string[]): Promise<Started> {
  const p = new Started('python3', [PROBE, 'lock', ...args]);
  t.teardown(() => {
    if (p.running) p.child.kill('SIGKILL');
  });
  await p.waitFor(/"locked"|"E[A-Z]+"/);
  if (!p.stdout.includes('"locked"')) throw new Error(`holder ${args.join(' ')} did not get its lock: ${p.stdout}${p.stderr}`);
  return p;
}

serial(`SEEK_DATA and SEEK_HOLE on a sparse file match the raw directory${why}`, async (t) => {
  const fx = await mountFixture(t);
  await probe('sparse', join(fx.src, 'on-src'));
  await probe('sparse', join(fx.mnt, 'through-mount'));
  const raw = (await probe('map', join(fx.src, 'on-src'))) as { runs: number[][] };
  t.true(raw.runs.length >= 2, `the source filesystem keeps holes (${JSON.stringify(raw)})`);
  t.deepEqual(await probe('map', join(fx.mnt, 'on-src')), raw, 'a file made on SRC, seen through the mount');
  t.deepEqual(await probe('map', join(fx.mnt, 'through-mount')), await probe('map', join(fx.src, 'through-mount')), 'a file written through the mount');
  t.true((await served(fx.mnt)).LSEEK >= 6, 'the server answered the seeks');
});

serial(`fallocate through the mount matches the raw directory (allocate, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE)${why}`, async (t) => {
  const fx = await mountFixture(t);
  const data = randomBytes(4 * MiB);
  await writeFile(join(fx.src, 'm'), data);
  await writeFile(join(fx.src, 'r'), data);
  const steps: Array<[string, number, number, number]> = [
    ['punch a hole (PUNCH_HOLE|KEEP_SIZE)', 3, MiB, MiB],
    ['zero a range (ZERO_RANGE)', 0x10, 3 * MiB, 64 * 1024],
    ['allocate past the end (0: size grows)', 0, 4 * MiB, MiB],
    ['allocate past the end (KEEP_SIZE)', 1, 5 * MiB, MiB],
  ];
  for (const [what, mode, off, len] of steps) {
    t.is(await probe('fallocate', join(fx.mnt, 'm'), String(mode), String(off), String(len)), 'ok', what);
    t.is(await probe('fallocate', join(fx.src, 'r'), String(mode), String(off), String(len)), 'ok', `${what} (raw)`);
    const [seen, onSrc] = await settledMap(join(fx.mnt, 'm'), join(fx.src, 'm'));
    t.deepEqual(seen, onSrc, `${what}: the mount shows SRC's file as it is (holes, size, blocks)`);
    // Two files on ext4 may differ by an extent-tree block, so blocks are compared on one file only.
    const { blocks: _m, ...shape } = seen;
    const { blocks: _r, ...rawShape } = (await probe('map', join(fx.src, 'r'))) as { blocks: number };
    t.deepEqual(shape, rawShape, `${what}: the same holes and size as the op on the raw directory`);
  }
  t.true((await readFile(join(fx.src, 'm'))).equals(await readFile(join(fx.src, 'r'))), 'the same bytes');
  t.is((await served(fx.mnt)).FALLOCATE, steps.length);
  const seen = await runOk('sha256sum', [join(fx.mnt, 'm')], { timeoutMs: 10_000 });
  t.is(seen.split(' ')[0], (await runOk('sha256sum', [join(fx.src, 'r')])).split(' ')[0], 'read back through the mount (no stale page cache)');
});

serial(`copy_file_range through the mount copies intact${why}`, async (t) => {
  const fx = await mountFixture(t);
  const data = randomBytes(3 * MiB + 12345);
  await writeFile(join(fx.src, 'from'), data);
  t.is(await probe('copy', join(fx.mnt, 'from'), join(fx.mnt, 'to')), data.length);
  t.true((await readFile(join(fx.src, 'to'))).equals(data), 'the copy on SRC');
  t.true((await served(fx.mnt)).COPY_FILE_RANGE >= 1, 'copied by the server (copy_file_range on SRC), not by the kernel reading and writing through it');
  const seen = await runOk('sha256sum', [join(fx.mnt, 'to')], { timeoutMs: 10_000 });
  t.is(seen.split(' ')[0], (await runOk('sha256sum', [join(fx.src, 'from')])).split(' ')[0], 'the copy through the mount');
});

for (const opts of [[], ['threads=1']]) {
  const how = opts.length ? ` (${opts.join(',')}: every request through JS)` : ' (reads and writes in the addon)';
  serial(`fcntl record locks through the mount conflict between processes and with SRC, and go with the holder's close${how}${why}`, async (t) => {
    const fx = await mountFixture(t, 'fuse', { options: opts });
    await writeFile(join(fx.src, 'f'), 'data');
    const f = join(fx.mnt, 'f');
    const a = await holder(t, f, 'posix', 'w', '0', '10', '60');
    t.is(await probe('lock', f, 'posix', 'w', '5', '10'), 'EAGAIN', 'an overlapping write lock by another process on the mount');
    t.is(await probe('lock', f, 'posix', 'r', '0', '1'), 'EAGAIN', 'an overlapping read lock');
    t.is(await probe('lock', f, 'posix', 'w', '10', '10'), 'locked', 'a range next to it');
    t.is(await probe('lock', f, 'ofd', 'w', '0', '0'), 'EAGAIN', 'an OFD lock on the mount (Samba uses these)');
    t.is(await probe('lock', join(fx.src, 'f'), 'posix', 'w', '9', '1'), 'EAGAIN', 'a lock on SRC itself');
    t.deepEqual(await probe('getlk', f, 'w', '0', '0'), ['w', 0, 10], 'F_GETLK names the range in the way');
    const ops = await served(fx.mnt);
    t.true(ops.SETLK >= 5 && ops.GETLK >= 1, `the server saw the locks (${JSON.stringify(ops)})`);
    a.child.kill('SIGKILL');
    await a.exited;
    t.is(await probe('lock', f, 'posix', 'w', '0', '0'), 'locked', 'the holder died: its close dropped the lock');
    t.deepEqual(await probe('getlk', f, 'w', '0', '0'), ['u', 0, 0], 'nothing in the way');

    const s = await holder(t, join(fx.src, 'f'), 'posix', 'r', '100', '1', '60');
    t.is(await probe('lock', f, 'posix', 'w', '100', '1'), 'EAGAIN', 'a read lock on SRC keeps the mount from write-locking it');
    t.is(await probe('lock', f, 'posix', 'r', '100', '1'), 'locked', 'read locks share');
    s.child.kill('SIGKILL');
  });
}

serial(`close(2) asks the server (FLUSH) only for files locked through the mount, and drops the locks as POSIX says${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'plain'), 'data');
  await writeFile(join(fx.src, 'f'), 'data');
  const closes = String.raw`
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    for _ in range(100): os.close(os.dup(fd))
    os.close(fd)
`;
  await runOk('python3', ['-c', closes, join(fx.mnt, 'plain')], { timeoutMs: 15_000 });
  t.is((await served(fx.mnt)).FLUSH ?? 0, 0, 'no FLUSH for 101 closes of a file nobody locked');

  // The first lock on a file goes through a descriptor opened without FLUSH: it goes at that file's RELEASE.
  const a = await holder(t, join(fx.mnt, 'f'), 'posix', 'w', '0', '0', '60');
  t.is(await probe('lock', join(fx.mnt, 'f'), 'posix', 'w', '0', '0'), 'EAGAIN', 'held');
  a.child.kill('SIGKILL');
  await a.exited;
  t.is(await probe('lock', join(fx.mnt, 'f'), 'posix', 'w', '0', '0'), 'locked', 'the holder died: the lock went with its file');

  // Opened after a lock: FLUSH at every close, and close(2) of any descriptor drops the process's locks.
  const before = (await served(fx.mnt)).FLUSH ?? 0;
  await runOk('python3', ['-c', closes, join(fx.mnt, 'f')], { timeoutMs: 15_000 });
  t.true(((await served(fx.mnt)).FLUSH ?? 0) - before >= 101, 'FLUSH for the closes of a locked file');
  const two = new Started('python3', [PROBE, 'twofds', join(fx.mnt, 'f')], undefined, { stdin: 'pipe' });
  t.teardown(() => {
    if (two.running) two.child.kill('SIGKILL');
  });
  await two.waitFor(/"locked"/, 15_000);
  t.is(await probe('lock', join(fx.mnt, 'f'), 'posix', 'w', '0', '0'), 'EAGAIN', 'locked through the first descriptor');
  two.child.stdin?.write('\n');
  await two.waitFor(/"closed"/, 15_000);
  t.is(await probe('lock', join(fx.mnt, 'f'), 'posix', 'w', '0', '0'), 'locked', 'closing the second descriptor dropped the lock, the first still open');
  two.child.stdin?.end();
});

serial(`F_SETLKW waits for the holder to let go, and a signal ends the wait${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'f'), 'data');
  const f = join(fx.mnt, 'f');
  const a = await holder(t, f, 'posix', 'w', '0', '1', '1.5');
  const b = new Started('python3', [PROBE, 'lock', f, 'posixw', 'w', '0', '1']);
  t.teardown(() => {
    if (b.running) b.child.kill('SIGKILL');
  });
  await b.waitFor(/"locked"|"E[A-Z]+"/, 15_000);
  t.true(a.stdout.includes('releasing'), `the waiter got the lock only after the holder let go (holder: ${a.stdout.trim()}, waiter: ${b.stdout.trim()})`);
  t.regex(b.stdout, /"locked"/);

  const c = await holder(t, f, 'posix', 'w', '0', '1', '60');
  t.is(await probe('lockwait', f, 'w', '0', '1'), 'interrupted', 'SIGALRM interrupts a waiting F_SETLKW (the kernel interrupts the request)');
  c.child.kill('SIGKILL');
  t.is(await probe('lockwait', f, 'w', '0', '1'), 'locked', 'free again');
});

serial(`flock through the mount conflicts between processes and with SRC, apart from record locks${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'f'), 'data');
  const f = join(fx.mnt, 'f');
  const a = await holder(t, f, 'flock', 'w', '0', '0', '60');
  t.is(await probe('lock', f, 'flock', 'w', '0', '0'), 'EAGAIN', 'another process on the mount');
  t.is(await probe('lock', f, 'flock', 'r', '0', '0'), 'EAGAIN', 'a shared flock');
  t.is(await probe('lock', join(fx.src, 'f'), 'flock', 'r', '0', '0'), 'EAGAIN', 'a process on SRC');
  t.is(await probe('lock', f, 'posix', 'w', '0', '0'), 'locked', 'flock and record locks are independent, as on Linux');
  a.child.kill('SIGKILL');
  await a.exited;
  t.is(await probe('lock', f, 'flock', 'w', '0', '0'), 'locked', 'released with the holder');
  const s = await holder(t, join(fx.src, 'f'), 'flock', 'r', '0', '0', '60');
  t.is(await probe('lock', f, 'flock', 'r', '0', '0'), 'locked', 'shared with SRC');
  const w = new Started('python3', [PROBE, 'lock', f, 'flockw', 'w', '0', '0']);
  t.teardown(() => {
    if (w.running) w.child.kill('SIGKILL');
  });
  await new Promise((r) => setTimeout(r, 500));
  t.true(w.running && w.stdout === '', 'LOCK_EX without LOCK_NB waits while SRC holds it shared');
  s.child.kill('SIGKILL');
  await w.waitFor(/"locked"/, 10_000);
  t.pass('and gets it once SRC lets go');
});

serial(`a server stopping with a lock request waiting answers it and exits${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'f'), 'data');
  const f = join(fx.mnt, 'f');
  await holder(t, join(fx.src, 'f'), 'posix', 'w', '0', '0', '60');
  const w = new Started('python3', [PROBE, 'lock', f, 'posixw', 'w', '0', '0']);
  t.teardown(() => {
    if (w.running) w.child.kill('SIGKILL');
  });
  await new Promise((r) => setTimeout(r, 500));
  t.true(w.running, 'the waiter waits');
  const r = await fx.server.stop();
  t.is(r.code, 0, `the server exited cleanly: ${fx.server.proc.stderr}`);
  t.truthy(await w.exit(10_000), 'the waiter was answered');
});
