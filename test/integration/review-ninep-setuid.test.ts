// REVIEW (an attacker's reproducer from the security review of the descriptor
// core; failed before the fix named below, passes since).
//
// serve-9p listened on tcp:127.0.0.1:5640 by default, and 9P has no
// authentication: every local user can connect and act on SRC as the
// server (root). Device nodes are refused for that reason (Tmknod), but a
// setuid-root executable is the same key: here an unprivileged local user
// (a 40-line Python 9P client) writes a copy of id(1) into SRC, owned by
// root with mode 04755, and runs it: euid=0. Same with security.capability
// through Txattrcreate.
//
// Fix (lib/ninep/nosuid.ts, lib/ninep/listen.ts): never give 9P-made files S_ISUID/S_ISGID-on-exec as root
// (strip them in Tlcreate/Tsetattr unless the server runs as that uid, the
// way nosuid would) and refuse security.capability; default to a 0600 unix
// socket rather than loopback TCP, which every local user can reach.
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { PassthroughBackend } from '../../lib/backend/passthrough.js';
import { startNinepServer } from '../../lib/ninep/server.js';
import { FakeMapper } from '../helpers/fake-mapper.js';
import { run } from '../helpers/run.js';

const UID = 64233;
const CLIENT = String.raw`
import socket, struct, sys
port, payload = int(sys.argv[1]), open('/usr/bin/id', 'rb').read()
s = socket.create_connection(('127.0.0.1', port))
def st(x): b = x.encode(); return struct.pack('<H', len(b)) + b
def rpc(t, body, tag=1):
    s.sendall(struct.pack('<IBH', 7 + len(body), t, tag) + body)
    hdr = b''
    while len(hdr) < 7: hdr += s.recv(7 - len(hdr))
    size, rt, _ = struct.unpack('<IBH', hdr); rest = b''
    while len(rest) < size - 7: rest += s.recv(size - 7 - len(rest))
    if rt == 7: raise SystemExit('Rlerror %d on type %d' % (struct.unpack('<I', rest[:4])[0], t))
    return rest
rpc(100, struct.pack('<I', 65536) + st('9P2000.L'), 0xffff)
rpc(104, struct.pack('<II', 0, 0xffffffff) + st('x') + st('') + struct.pack('<I', 0))   # attach as uid 0
rpc(14, struct.pack('<I', 0) + st('idsu') + struct.pack('<III', 0o1, 0o104755, 0))   # Tlcreate O_WRONLY
for off in range(0, len(payload), 32768):
    chunk = payload[off:off + 32768]
    rpc(118, struct.pack('<IQI', 0, off, len(chunk)) + chunk)
rpc(26, struct.pack('<IIIIIQQQQQ', 0, 1, 0o104755, 0, 0, 0, 0, 0, 0, 0))   # Tsetattr mode 04755
rpc(120, struct.pack('<I', 0))
print('made')
`;

test.serial('review: an unprivileged local user cannot become root through the default loopback 9P server', async (t) => {
  if (process.getuid?.() !== 0) return t.fail('needs root (the server runs as root)');
  const base = await mkdtemp(join(tmpdir(), 'review-9p-suid-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  await chmod(base, 0o755);
  const src = join(base, 'src');
  await mkdir(src, { mode: 0o755 });
  const mapper = new FakeMapper((await stat(src, { bigint: true })).dev);
  const backend = await PassthroughBackend.open({ root: src, mapper });
  const server = await startNinepServer({ backend, listen: 'tcp:127.0.0.1:0', exportPath: src });
  t.teardown(async () => {
    await server.close();
    backend.close();
  });
  const port = server.addresses[0]!.split(':').pop()!;
  const as = (cmd: string[]) => run('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', ...cmd], { timeoutMs: 30_000 });
  const made = await as(['/usr/bin/python3', '-c', CLIENT, port]);
  t.log(made.stdout.trim(), made.stderr.trim());
  const ran = await as([join(src, 'idsu')]);
  t.log(`the user ran ${join(src, 'idsu')}: ${ran.stdout.trim()} ${ran.stderr.trim()}`);
  t.notRegex(ran.stdout, /euid=0\(root\)/, 'a local user made and ran a setuid-root binary through 9P');
});
