// The admin pieces that need no mount: the mount helper's argv, fstab
// options, log lines, request counters, readiness messages, status text.
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { fstatSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatStatus } from '../../lib/cli/commands/status.js';
import { splitFstabOptions } from '../../lib/cli/fstab-options.js';
import type { Io } from '../../lib/cli/io.js';
import { createLogger } from '../../lib/cli/log.js';
import { isMountFuseCall, parseHelperArgv } from '../../lib/cli/mount-helper.js';
import { OptionError, parseMountOptions } from '../../lib/fuse/options.js';
import { RequestCounter } from '../../lib/status/counters.js';
import { fuseOpName, ninepMessageName } from '../../lib/status/names.js';
import { StartReporter } from '../../lib/status/readiness.js';
import type { StatusSnapshot } from '../../lib/status/snapshot.js';

test('mount helper argv: what mount(8) and mount.fuse3 pass', (t) => {
  t.deepEqual(parseHelperArgv(['/srv/a', '/mnt/b', '-o', 'rw,allow_other']), { src: '/srv/a', mnt: '/mnt/b', options: ['rw,allow_other'], fake: false, verbose: false });
  const v = parseHelperArgv(['/srv/a', '/mnt/b', '-sv', '-n', '-oro', '-t', 'fuse.stableid', '-r']);
  t.deepEqual(v.options, ['ro', 'ro']);
  t.true(v.verbose);
  t.true(parseHelperArgv(['-f', '/srv/a', '/mnt/b']).fake, 'flags may come first');
  t.is(parseHelperArgv(['/a', '/b', '-N', '/proc/1/ns/mnt']).namespace, '/proc/1/ns/mnt');
  t.throws(() => parseHelperArgv(['/a']), { instanceOf: OptionError, message: /usage: mount.fuse.stableid SRC MNT/ });
  t.throws(() => parseHelperArgv(['/a', '/b', '-o']), { message: /-o needs a value/ });
  t.throws(() => parseHelperArgv(['/a', '/b', '-t', 'fuse.sshfs']), { message: /mounts fuse.stableid only/ });
  t.throws(() => parseHelperArgv(['/a', '/b', '--bogus']), { message: /unknown flag --bogus/ });
  t.true(isMountFuseCall(['/srv/a', '/mnt/b', '-o', 'rw']));
  t.false(isMountFuseCall(['status', '/mnt/b']), 'commands have no slash');
  t.false(isMountFuseCall(['/srv/a']));
});

test('fstab options: mount(8)\'s, fstab\'s and systemd\'s are ignored; 9p=, state_dir= and log= are taken out', (t) => {
  const o = splitFstabOptions(['defaults,nofail,_netdev,noauto,users,x-systemd.requires=a.service,X-mount.mkdir,comment=hi,allow_other', '9p=tcp:127.0.0.1:5640,9p=unix:/run/s.sock,state_dir=/var/lib/x,log=/var/log/s.log,fsname=a\\,b,ro']);
  t.deepEqual(o.ignored, ['defaults', 'nofail', '_netdev', 'noauto', 'users', 'x-systemd.requires=a.service', 'X-mount.mkdir', 'comment=hi']);
  t.deepEqual(o.ninep, ['tcp:127.0.0.1:5640', 'unix:/run/s.sock']);
  t.is(o.stateDir, '/var/lib/x');
  t.is(o.log, '/var/log/s.log');
  t.deepEqual(o.mount, ['allow_other', 'fsname=a\\,b', 'ro']);
  // What is left parses as mount options, escaped comma and all.
  t.is(parseMountOptions(o.mount, '/s').fsname, 'a,b');
  t.throws(() => splitFstabOptions(['9p=']), { instanceOf: OptionError, message: '-o 9p= needs a value (tcp:HOST:PORT or unix:PATH)' });
  t.throws(() => splitFstabOptions(['log=']), { message: /log= needs a value \(a file\)/ });
});

function captured(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (s) => lines.push(`out:${s}`), err: (s) => lines.push(s) };
}

test('log lines: one per event, with a level, shaped for a terminal, the journal or a file', (t) => {
  const now = () => new Date('2026-12-01T10:00:00.000Z');
  for (const [format, want] of [
    ['tty', ['stableid: serving a', 'stableid: warning: slow | second line', 'stableid: error: bad']],
    ['journal', ['<6>info: serving a', '<4>warning: slow | second line', '<3>error: bad']],
    ['file', [`2026-12-01T10:00:00.000Z stableid[${process.pid}] /mnt/x info: serving a`, `2026-12-01T10:00:00.000Z stableid[${process.pid}] /mnt/x warning: slow | second line`, `2026-12-01T10:00:00.000Z stableid[${process.pid}] /mnt/x error: bad`]],
  ] as const) {
    const io = captured();
    const log = createLogger({ io, format, tag: '/mnt/x', now });
    log.info('stableid: serving a');
    log.warn('slow\n  second line');
    log.error('bad');
    log.debug('per request: not without NODE_DEBUG=stableid');
    t.deepEqual(io.lines, [...want], format);
  }
});

test('request counters: per name, busiest first, total of all', (t) => {
  const c = new RequestCounter(ninepMessageName);
  for (const type of [110, 110, 24, 110, 120, 24]) c.count(type);
  t.deepEqual(c.snapshot(), { total: 6, byOp: { Twalk: 3, Tgetattr: 2, Tclunk: 1 } });
  t.is(fuseOpName(1), 'LOOKUP');
  t.is(fuseOpName(35), 'CREATE');
  t.is(fuseOpName(1001), 'FLOCK');
  t.is(fuseOpName(99), 'op99');
});

test('readiness: READY once, only after start; a failure after READY is not reported; the helper\'s fd gets one line and is closed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admin-ready-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sent: string[] = [];
  const fd = openSync(join(dir, 'pipe'), 'w');
  const r = new StartReporter({ notifySocket: '/run/x.sock', readyFd: fd, warn: (m) => sent.push(`warn ${m}`), send: (_p, m) => sent.push(m) });
  r.ready('serving /a at /b');
  r.ready('again');
  r.failed('too late');
  r.stopping();
  t.deepEqual(sent, ['READY=1\nSTATUS=serving /a at /b', 'STOPPING=1\nSTATUS=stopping']);
  t.is(await readFile(join(dir, 'pipe'), 'utf8'), 'READY\n');
  t.throws(() => fstatSync(fd), { code: 'EBADF' }, 'the fd was closed after its one line');

  const failed: string[] = [];
  const fd2 = openSync(join(dir, 'pipe2'), 'w');
  const f = new StartReporter({ notifySocket: '@x', readyFd: fd2, warn: () => undefined, send: (_p, m) => failed.push(m) });
  f.failed('source /x does not exist\nsecond line');
  f.ready('never');
  t.deepEqual(failed, ['STATUS=source /x does not exist | second line']);
  t.is(await readFile(join(dir, 'pipe2'), 'utf8'), 'FAIL source /x does not exist | second line\n');

  const noSocket: string[] = [];
  new StartReporter({ notifySocket: '/nonexistent/notify.sock', warn: (m) => noSocket.push(m) }).ready('x');
  t.regex(noSocket[0]!, /^cannot notify systemd at \/nonexistent\/notify.sock: sendto NOTIFY_SOCKET: No such file or directory/);
});

test('status text: one header line, then a row per part', (t) => {
  const s: StatusSnapshot = {
    pid: 42,
    since: '2026-12-01T10:00:00.123Z',
    uptimeSeconds: 3725,
    version: '0.1.0',
    source: '/srv/data',
    mountpoint: '/srv/stable',
    table: { where: 'xattrs user.stableid.* on /srv/data', prefixes: 2 },
    frontends: [
      { kind: 'fuse', mountpoint: '/srv/stable', options: ['allow_other'], openNodes: 7, requests: { total: 10, byOp: { GETATTR: 6, LOOKUP: 4 } } },
      { kind: '9p', addresses: ['tcp:127.0.0.1:5640'], connections: 1, openFids: 3, requests: { total: 0, byOp: {} } },
    ],
    log: '/var/log/stableid.log',
  };
  t.is(
    formatStatus('/srv/stable', s),
    [
      '/srv/stable: served by pid 42 since 2026-12-01T10:00:00Z (up 1h 2m), stableid 0.1.0',
      '  source  /srv/data',
      '  table   2 of 65535 prefixes in use, in xattrs user.stableid.* on /srv/data',
      '  fuse    /srv/stable: 7 open nodes, 10 requests (GETATTR 6, LOOKUP 4)',
      '  9p      tcp:127.0.0.1:5640: 1 connection, 3 open fids, 0 requests',
      '  log     /var/log/stableid.log',
    ].join('\n'),
  );
});
