// The systemd unit in systemd/: `systemd-analyze verify` accepts it and the
// drop-ins that order smbd and nfs-ganesha after it (no systemd runs as PID
// 1 here, verify loads units offline), and its ExecStart, run as systemd
// would run it, sends READY=1 to the notify socket exactly once, after the
// mount answers, then STOPPING=1 on SIGTERM.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { access, cp, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stableidMounts } from '../helpers/admin-fixture.js';
import { canMount, forceUnmount, REPO, tempDir } from '../helpers/mount-fixture.js';
import { MountNamespace } from '../helpers/mount-ns.js';
import { run, runOk, Started } from '../helpers/run.js';

const UNITS = join(REPO, 'systemd');
const exists = (p: string) => access(p).then(() => true, () => false);
const fuse = await canMount('fuse');
const tools = (await exists('/usr/bin/systemd-analyze')) ? '' : 'no systemd-analyze (Debian package systemd)';
const peers = (await exists('/lib/systemd/system/smbd.service')) && (await exists('/lib/systemd/system/nfs-ganesha.service')) ? '' : 'smbd.service or nfs-ganesha.service not installed (samba, nfs-ganesha)';
const skip = (why: string) => (why ? test.skip : test.serial);
const note = (why: string) => (why ? ` (skipped: ${why})` : '');

/** systemd-analyze verify in a namespace where /usr/local/bin/stableid-mount exists, as after `npm install -g`. */
async function verify(t: ExecutionContext, unitDir: string, units: string[]): Promise<{ code: number | null; output: string }> {
  const ns = await MountNamespace.create(t, { helper: false });
  const r = await ns.run('env', [`SYSTEMD_UNIT_PATH=${unitDir}:`, 'systemd-analyze', 'verify', '--man=no', ...units], { timeoutMs: 60_000 });
  return { code: r.code, output: (r.stdout + r.stderr).trim() };
}

async function unitDir(t: ExecutionContext): Promise<string> {
  const dir = join(await tempDir(t, 'admin-units-'), 'units');
  await cp(UNITS, dir, { recursive: true });
  return dir;
}

skip(tools || peers || (fuse.ok ? '' : fuse.reason))(`systemd-analyze verify accepts the unit and the smbd / nfs-ganesha drop-ins${note(tools || peers || (fuse.ok ? '' : fuse.reason))}`, async (t) => {
  const dir = await unitDir(t);
  const good = await verify(t, dir, ['stableid@srv-stable.service', 'smbd.service', 'nfs-ganesha.service']);
  t.is(good.code, 0, good.output);
  t.is(good.output, '', 'no warnings either');
  // The drop-ins are really read: one naming a unit that does not exist fails verification.
  const conf = join(dir, 'smbd.service.d/stableid.conf');
  await writeFile(conf, (await readFile(conf, 'utf8')).replaceAll('stableid@srv-stable', 'stableid-typo@srv-stable'));
  const broken = await verify(t, dir, ['smbd.service']);
  t.not(broken.code, 0);
  t.regex(broken.output, /stableid-typo@srv-stable\.service not found/);
});

skip(tools || (fuse.ok ? '' : fuse.reason))(`systemd-analyze verify flags a unit whose command is missing (the check is real)${note(tools || (fuse.ok ? '' : fuse.reason))}`, async (t) => {
  const dir = await unitDir(t);
  const unit = join(dir, 'stableid@.service');
  await writeFile(unit, (await readFile(unit, 'utf8')).replace('ExecStart=stableid-mount', 'ExecStart=stableid-mount-missing'));
  const r = await verify(t, dir, ['stableid@srv-stable.service']);
  t.not(r.code, 0);
  t.regex(r.output, /stableid-mount-missing is not executable/);
});

/** The unit's ExecStart for the instance of mnt, expanded as systemd does (%f, ${SRC}, ${OPTIONS}: one word each). */
async function execStart(src: string, mnt: string, options: string): Promise<string[]> {
  const unit = await readFile(join(UNITS, 'stableid@.service'), 'utf8');
  const line = /^ExecStart=(.*)$/m.exec(unit)![1]!;
  const instance = (await runOk('systemd-escape', ['--path', mnt])).trim();
  const f = `/${(await runOk('systemd-escape', ['--unescape', instance])).trim()}`;
  const words = line.split(/\s+/).map((w) => w.replace('${SRC}', src).replace('%f', f).replace('${OPTIONS}', options));
  // systemd finds the bare name in /usr/local/bin or /usr/bin; here it is this checkout's.
  if (words[0] !== 'stableid-mount') throw new Error(`ExecStart should run stableid-mount from systemd's search path: ${line}`);
  return [join(REPO, 'bin/stableid-mount'), ...words.slice(1)];
}

async function receiver(t: ExecutionContext, socket: string, mnt: string): Promise<Started> {
  const r = new Started('python3', [join(REPO, 'test/helpers/notify-receiver.py'), socket, mnt]);
  t.teardown(() => void (r.running && r.child.kill()));
  await r.waitFor(/^listening$/m);
  return r;
}

const messages = (r: Started) =>
  r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; mounted?: boolean; ino?: string });

skip(fuse.ok ? '' : fuse.reason)(`Type=notify: READY=1 exactly once, after the mount answers; STOPPING=1 on SIGTERM; journal lines carry a priority${note(fuse.ok ? '' : fuse.reason)}`, async (t) => {
  const dir = await tempDir(t, 'admin-notify-');
  const [src, mnt, sock] = [join(dir, 'src'), join(dir, 'mnt'), join(dir, 'notify.sock')];
  await mkdir(src);
  await mkdir(mnt);
  await writeFile(join(src, 'f'), 'x');
  const rx = await receiver(t, sock, mnt);
  // stderr is a file standing in for the journal's stream: JOURNAL_STREAM names it, as systemd does.
  const errFile = join(dir, 'journal');
  const fh = await open(errFile, 'w');
  const st = await stat(errFile, { bigint: true });
  const server = spawn(process.execPath, await execStart(src, mnt, 'allow_other'), {
    env: { ...process.env, NOTIFY_SOCKET: sock, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
    stdio: ['ignore', 'ignore', fh.fd],
  });
  await fh.close();
  const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (server.exitCode === null) server.kill('SIGKILL');
    await forceUnmount(mnt);
  });
  await rx.waitFor(/READY=1/, 20_000);
  const ready = messages(rx).find((m) => m.msg.split('\n').includes('READY=1'))!;
  t.true(ready.mounted, 'MNT is mounted when READY=1 arrives');
  t.is(ready.ino, (await stat(src, { bigint: true })).ino.toString(), "a stat of MNT returns the export root's id when READY=1 arrives");
  t.regex(ready.msg, new RegExp(`^STATUS=serving ${src} at ${mnt}$`, 'm'));
  server.kill('SIGTERM');
  t.is(await exited, 0);
  await rx.exit(10_000);
  const all = messages(rx).map((m) => m.msg);
  t.is(all.filter((m) => m.split('\n').includes('READY=1')).length, 1, `READY=1 exactly once: ${JSON.stringify(all)}`);
  t.true(all.at(-1)!.split('\n').includes('STOPPING=1'));
  t.deepEqual(stableidMounts(await readFile('/proc/self/mountinfo', 'utf8')).filter((m) => m === mnt), []);
  const journal = await readFile(errFile, 'utf8');
  t.regex(journal, new RegExp(`^<6>info: serving ${src} at ${mnt}`, 'm'));
  t.regex(journal, /^<6>info: stopped$/m);
});

skip(fuse.ok ? '' : fuse.reason)(`Type=notify: a failed start sends its reason as STATUS= and never READY=1 (abstract notify socket)${note(fuse.ok ? '' : fuse.reason)}`, async (t) => {
  const dir = await tempDir(t, 'admin-notify-');
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  const sock = `@admin-notify-${process.pid}-${Date.now()}`;
  const rx = await receiver(t, sock, mnt);
  const missing = join(dir, 'gone');
  const r = await run(process.execPath, await execStart(missing, mnt, ''), { env: { ...process.env, NOTIFY_SOCKET: sock }, timeoutMs: 20_000 });
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`source ${missing} does not exist`));
  await rx.waitFor(/STATUS=/, 5000);
  rx.child.kill();
  const all = messages(rx).map((m) => m.msg);
  t.deepEqual(all, [`STATUS=source ${missing} does not exist`]);
});
