// A caller's supplementary groups come from /proc/PID/status (FUSE sends only
// uid, gid and pid), and with allow_other,no_default_permissions they decide
// what SRC lets the caller do. They are used only when that file is the
// caller's: its fsuid and fsgid are the request's. The PID naming another
// user's process is made certain here, not raced: the server runs in its own
// PID namespace but reads the host's /proc (unshare --pid without
// --mount-proc), and the caller is given, in that namespace, the PID another
// user's process has on the host (ns_last_pid).
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { canMount, forceUnmount, REPO, startServer, tempDir, waitMounted } from '../helpers/mount-fixture.js';
import { run, Started } from '../helpers/run.js';
import { createUser, deleteUser, type UnixUser } from '../helpers/unix-user.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

const OPTIONS = 'allow_other,no_default_permissions';

async function user(t: ExecutionContext): Promise<UnixUser> {
  let name: string | undefined;
  t.teardown(async () => {
    if (name) await deleteUser(name);
  });
  return createUser('mountsafe', (n) => (name = n));
}

/** SRC with team/, writable by the team group only (0770 root:team). */
async function teamSource(t: ExecutionContext, team: number): Promise<{ src: string; mnt: string }> {
  const dir = await tempDir(t, 'mountsafe-');
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  const mnt = join(dir, 'mnt');
  await mkdir(join(src, 'team'), { recursive: true });
  await mkdir(mnt);
  await chown(join(src, 'team'), 0, team);
  await chmod(join(src, 'team'), 0o770);
  return { src, mnt };
}

const asUser = (u: UnixUser, groups: string, cmd: string[]) => ['setpriv', '--reuid', String(u.uid), '--regid', String(u.gid), ...(groups ? ['--groups', groups] : ['--clear-groups']), ...cmd];

serial(`a caller's own supplementary groups are used (mkdir in a group-only directory of SRC)${why}`, async (t) => {
  const [member, team] = [await user(t), await user(t)];
  const { src, mnt } = await teamSource(t, team.gid);
  await startServer(t, 'cli', src, mnt, [OPTIONS]);
  const [cmd, ...args] = asUser(member, String(team.gid), ['mkdir', join(mnt, 'team', 'made')]);
  const r = await run(cmd!, args, { timeoutMs: 10_000 });
  t.is(r.code, 0, r.stderr);
  t.is((await stat(join(src, 'team', 'made'))).uid, member.uid, 'made as the caller, through its group');
});

serial(`a PID that names another user's process lends the caller none of its groups${why}`, async (t) => {
  const [caller, team] = [await user(t), await user(t)];
  const { src, mnt } = await teamSource(t, team.gid);
  const server = new Started('unshare', ['--pid', '--fork', process.execPath, join(REPO, 'bin/stableid-mount'), '-o', OPTIONS, src, mnt]);
  t.teardown(async () => {
    // unshare ignores SIGTERM while it waits: signal the server, its child.
    const kids = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of kids) process.kill(Number(pid), 'SIGTERM');
    await server.exit(10_000);
    await forceUnmount(mnt);
  });
  await waitMounted(server, mnt);
  await server.waitFor(/serving .* at /);
  // A process of another user, in the team group: its host PID is what the caller will get.
  const holder = new Started('setpriv', asUser(team, String(team.gid), ['sleep', '60']).slice(1));
  t.teardown(() => void holder.child.kill('SIGKILL'));
  const status = () => readFileSync(`/proc/${holder.pid}/status`, 'utf8');
  for (let i = 0; i < 100 && !new RegExp(`^Uid:\\s+${team.uid}\\s`, 'm').test(status()); i++) await new Promise((r) => setTimeout(r, 20));
  t.regex(status(), new RegExp(`^Groups:\\s+${team.gid}\\s*$`, 'm'));

  const inner = `${asUser(caller, '', ['sh', '-c', `'echo pid=$$; exec mkdir ${join(mnt, 'team', 'x')}'`]).join(' ')}; echo rc=$?`;
  let r;
  // The server's threads could take the PID first: try again then (the check is that pid=H below).
  for (let i = 0; i < 3; i++) {
    r = await run('nsenter', [`--pid=/proc/${server.pid}/ns/pid_for_children`, 'sh', '-c', `echo ${holder.pid - 1} > /proc/sys/kernel/ns_last_pid; ${inner}`], { timeoutMs: 10_000 });
    if (r.stdout.includes(`pid=${holder.pid}\n`)) break;
  }
  t.true(r!.stdout.includes(`pid=${holder.pid}\n`), `the caller has the other process's PID in the server's namespace: ${r!.stdout}`);
  t.regex(r!.stdout, /rc=1/);
  t.regex(r!.stderr, /Permission denied/);
  await t.throwsAsync(stat(join(src, 'team', 'x')), { code: 'ENOENT' });
});
