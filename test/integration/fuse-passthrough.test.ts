// Kernel passthrough on a real mount: with it (this kernel has it), reads,
// writes, O_DIRECT and shared mmap of open files are done by the kernel on
// the source file, and no READ or WRITE request reaches the server at all
// (the addon counts every request by opcode, also those JS never sees);
// forced off, the same traffic is served by the server and arrives intact.
// Every client is a child process.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { statusJson } from '../helpers/admin-fixture.js';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run, runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

async function requests(mnt: string): Promise<Record<string, number>> {
  const fuse = (await statusJson(mnt)).frontends.find((f) => f.kind === 'fuse');
  if (!fuse) throw new Error(`stableid status ${mnt}: no FUSE front-end`);
  return fuse.requests.byOp;
}

// Buffered write and read, O_DIRECT read, and a shared mmap written and read back: all through the mount.
const TRAFFIC = String.raw`
import mmap, os, sys, hashlib
mnt, src = sys.argv[1], sys.argv[2]
data = os.urandom(8 << 20)
with open(f"{mnt}/f", "wb") as f: f.write(data)
with open(f"{mnt}/f", "rb") as f: assert f.read() == data, "buffered read"
fd = os.open(f"{mnt}/f", os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)
os.readv(fd, [buf]); assert bytes(buf) == data[:1 << 20], "O_DIRECT read"
os.close(fd)
with open(f"{mnt}/f", "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:5] = b"hello"; m.flush(); m.close()
with open(f"{src}/f", "rb") as f: assert f.read(5) == b"hello", "mmap write reached the source"
print(hashlib.sha256(open(f"{mnt}/f", "rb").read()).hexdigest(), hashlib.sha256(open(f"{src}/f", "rb").read()).hexdigest())
`;

async function traffic(t: ExecutionContext, mnt: string, src: string): Promise<void> {
  const [viaMount, onSrc] = (await runOk('/usr/bin/python3', ['-c', TRAFFIC, mnt, src], { timeoutMs: 60_000 })).trim().split(' ');
  t.is(viaMount, onSrc, 'the mount and the source hold the same bytes');
}

serial(`with kernel passthrough no READ or WRITE request reaches the server (buffered, O_DIRECT, mmap)${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['passthrough'] });
  await fx.server.proc.waitFor(/kernel FUSE passthrough/); // logged once the mount answers, maybe after it appeared
  t.regex(fx.server.proc.stderr, /kernel FUSE passthrough on \(protocol 7\.\d+\)/);
  await traffic(t, fx.mnt, fx.src);
  const byOp = await requests(fx.mnt);
  t.true((byOp.OPEN ?? 0) + (byOp.CREATE ?? 0) >= 4, JSON.stringify(byOp));
  t.is(byOp.READ ?? 0, 0, `no READ: ${JSON.stringify(byOp)}`);
  t.is(byOp.WRITE ?? 0, 0, `no WRITE: ${JSON.stringify(byOp)}`);
});

serial(`with passthrough turned off the server serves the same reads and writes, intact${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['nopassthrough'] });
  await fx.server.proc.waitFor(/kernel FUSE passthrough/);
  t.regex(fx.server.proc.stderr, /kernel FUSE passthrough off: turned off \(-o nopassthrough\)/);
  await traffic(t, fx.mnt, fx.src);
  const byOp = await requests(fx.mnt);
  t.true((byOp.READ ?? 0) > 0, JSON.stringify(byOp));
  t.true((byOp.WRITE ?? 0) > 0, JSON.stringify(byOp));
});

serial(`a file open through passthrough and opened again shares its backing file; both see each other's writes${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['passthrough'] });
  const script = String.raw`
import os, sys
p = sys.argv[1] + "/g"
a = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
b = os.open(p, os.O_RDONLY)
os.pwrite(a, b"one", 0)
assert os.pread(b, 3, 0) == b"one"
os.close(a)
c = os.open(p, os.O_WRONLY)
os.pwrite(c, b"two", 0)
assert os.pread(b, 3, 0) == b"two"
os.close(b); os.close(c)
print(open(p).read())
`;
  t.is((await runOk('/usr/bin/python3', ['-c', script, fx.mnt], { timeoutMs: 30_000 })).trim(), 'two');
  const byOp = await requests(fx.mnt);
  t.is(byOp.READ ?? 0, 0, JSON.stringify(byOp));
  t.is(byOp.WRITE ?? 0, 0, JSON.stringify(byOp));
});

serial(`an append-only file gets no backing file: its writes go through the server, whose descriptor SRC keeps append-only${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['passthrough'] });
  await writeFile(join(fx.src, 'log'), 'first\n');
  const chattr = await run('chattr', ['+a', join(fx.src, 'log')], { timeoutMs: 10_000 });
  if (chattr.code !== 0) return t.fail(`chattr +a on the source (${fx.src}): ${chattr.stderr}`);
  t.teardown(() => run('chattr', ['-a', join(fx.src, 'log')], { timeoutMs: 10_000 }).then(() => undefined));
  // O_APPEND, then the flag dropped on the FUSE file and a write at offset 0.
  const script = String.raw`
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"second\n")
fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_APPEND)
try:
    os.pwrite(fd, b"XX", 0)
except OSError as e:
    print("pwrite", e.errno)
os.close(fd)
`;
  await runOk('/usr/bin/python3', ['-c', script, join(fx.mnt, 'log')], { timeoutMs: 30_000 });
  const text = await readFile(join(fx.src, 'log'), 'utf8');
  t.true(text.startsWith('first\nsecond\n'), `nothing overwritten: ${JSON.stringify(text)}`);
  t.true(((await requests(fx.mnt)).WRITE ?? 0) > 0, 'the writes reached the server (no passthrough for this file)');
});

// The kernel asks for security.capability before every write to a FUSE file;
// for an open passthrough file the addon answers from the file's descriptor,
// read at each request (lib/fuse/native/caps.c).
serial(`security.capability of an open passthrough file is answered without JS, fresh at each request; another user's write still clears it${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['passthrough', 'allow_other'], env: { NODE_DEBUG: 'stableid:fuse' } });
  await runOk('chmod', ['755', fx.dir, fx.src]);
  for (const f of ['held', 'other']) {
    await writeFile(join(fx.src, f), 'binary');
    await runOk('chmod', ['666', join(fx.src, f)]);
    await runOk('setcap', ['cap_net_raw+ep', join(fx.src, f)]);
  }
  const script = String.raw`
import json, os, subprocess, sys
mnt, src = sys.argv[1], sys.argv[2]
held, out = f"{mnt}/held", {}
def cap(p):
    try: return os.getxattr(p, "security.capability").hex()
    except OSError as e: return e.errno
fd = os.open(held, os.O_RDWR)
out["ino"] = str(os.fstat(fd).st_ino)
out["open"] = [cap(held), cap(f"{src}/held")]
subprocess.run(["setcap", "-r", f"{src}/held"], check=True)
out["removedOnSrc"] = cap(held)
subprocess.run(["setcap", "cap_net_raw+ep", f"{src}/held"], check=True)
out["setAgain"] = cap(held)
subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                "import os; f = os.open('" + held + "', os.O_WRONLY); os.pwrite(f, b'X', 0); os.close(f)"], check=True)
out["afterOtherUsersWrite"] = [cap(held), cap(f"{src}/held")]
os.close(fd)
out["otherIno"] = str(os.stat(f"{mnt}/other").st_ino)
out["other"] = cap(f"{mnt}/other")
print(json.dumps(out))
`;
  const r = JSON.parse(await runOk('/usr/bin/python3', ['-c', script, fx.mnt, fx.src], { timeoutMs: 60_000 }));
  const ENODATA = 61;
  t.is(r.open[0], r.open[1], 'the value through the mount is the one on SRC');
  t.true(typeof r.open[0] === 'string' && r.open[0].length > 0, `a capability is there: ${JSON.stringify(r)}`);
  t.is(r.removedOnSrc, ENODATA, 'removed on SRC: gone through the mount at once (never kept)');
  t.is(r.setAgain, r.open[0], 'set again on SRC: there again');
  t.deepEqual(r.afterOtherUsersWrite, [ENODATA, ENODATA], 'a write by another user cleared it (the kernel saw it and removed it)');
  t.is((await readFile(join(fx.src, 'held'), 'utf8'))[0], 'X', 'the write reached SRC');
  // The trace prints node ids as bigints ("123n").
  const asked = (id: string) => fx.server.proc.stderr.split('\n').filter((l) => l.includes(`GETXATTR ino ${id}n security.capability`)).length;
  t.is(asked(r.ino), 0, 'no request for the open file reached JS');
  t.true(asked(r.otherIno) >= 1, 'a file not open is answered by JS (the trace sees requests)');
});

// On a nosuid mount (the default) the server clears setuid/setgid itself (FUSE_HANDLE_KILLPRIV_V2),
// so the kernel asks for security.capability once per file, not before each write; with -o suid
// it asks every time (lib/fuse/native/init.c says why).
for (const [options, perWrite] of [[[], false], [['suid'], true]] as const) {
  serial(`200 writes to one file ask for security.capability ${perWrite ? 'each time (-o suid)' : 'at most twice (nosuid)'}${why}`, async (t) => {
    const fx = await mountFixture(t, 'fuse', { options: [...options] });
    await writeFile(join(fx.src, 'w'), '');
    const before = (await requests(fx.mnt)).GETXATTR ?? 0;
    await runOk('/usr/bin/python3', ['-c', 'import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY)\nfor i in range(200): os.pwrite(fd, b"x" * 4096, i * 4096)\nos.close(fd)', join(fx.mnt, 'w')], { timeoutMs: 30_000 });
    const asked = ((await requests(fx.mnt)).GETXATTR ?? 0) - before;
    if (perWrite) t.true(asked >= 200, `${asked} GETXATTR requests`);
    else t.true(asked <= 2, `${asked} GETXATTR requests`);
    t.is((await stat(join(fx.src, 'w'))).size, 200 * 4096);
  });
}
