// An unprivileged user for the hostile-client suite: created with a unique
// name (prefix "hostile"), removed in teardown; its programs run through
// setpriv with no groups, no capabilities and no_new_privs, each with a timeout.
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Canaries } from './hostile-canaries.js';
import { REPO } from './mount-fixture.js';
import { runBounded } from './hostile-run.js';
import type { RunResult } from './run.js';
import { createUser, deleteUser, type UnixUser } from './unix-user.js';

export type HostileUser = UnixUser;

/** The system python: the root-only pyenv shim on PATH is unreadable for another user. */
export const PYTHON = '/usr/bin/python3';

export async function hostileUser(t: ExecutionContext): Promise<HostileUser> {
  return createUser('hostile', (name) =>
    t.teardown(async () => {
      const d = await deleteUser(name);
      if (d.code !== 0) t.log(`userdel ${name} failed (${d.code}): ${d.stderr}`);
    }),
  );
}

/** Runs cmd as the user (never as root), killed after timeoutMs. */
export function runAs(user: HostileUser, cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  const setpriv = ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--inh-caps=-all', '--no-new-privs', '--', cmd, ...args];
  return runBounded('setpriv', setpriv, { timeoutMs, cwd: '/', env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' } });
}

/** Source of test/helpers/hostile/NAME.py, after the shared prelude (common.py). */
export async function attackScript(name: string): Promise<string> {
  const dir = join(REPO, 'test/helpers/hostile');
  return `${await readFile(join(dir, 'common.py'), 'utf8')}\n${await readFile(join(dir, `${name}.py`), 'utf8')}`;
}

export interface AttackReport {
  /** Attempts per operation. */
  attempts: Record<string, number>;
  /** Outcomes per operation: "ok" or the errno name. */
  outcomes: Record<string, Record<string, number>>;
  /** Whatever else the script reports (listing sizes, phases). */
  notes: Record<string, unknown>;
}

/** Runs an attacker script (python, as the user) and parses the JSON report on its last stdout line. */
export async function attack(user: HostileUser | 'root', name: string, args: string[], timeoutMs = 60_000): Promise<{ report: AttackReport; raw: RunResult }> {
  const script = await attackScript(name);
  const raw = user === 'root'
    ? await runBounded(PYTHON, ['-c', script, ...args], { timeoutMs, cwd: '/', env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } })
    : await runAs(user, PYTHON, ['-c', script, ...args], timeoutMs);
  if (raw.timedOut) throw new Error(`attacker ${name} did not finish in ${timeoutMs} ms (a hung mount?)\n${raw.stderr}`);
  const last = raw.stdout.trim().split('\n').pop() ?? '';
  let report: AttackReport;
  try {
    report = JSON.parse(last) as AttackReport;
  } catch {
    throw new Error(`attacker ${name} exited ${raw.code ?? raw.signal} without a report:\n${raw.stderr}${raw.stdout}`);
  }
  return { report, raw };
}

/** Control: the user cannot read, write, chmod or create any canary directly. */
export async function assertUnprivileged(t: ExecutionContext, user: HostileUser, canaries: Canaries): Promise<void> {
  const { report, raw } = await attack(user, 'direct', [canaries.rootdir, ...canaries.secrets.keys()]);
  for (const [op, outcomes] of Object.entries(report.outcomes)) t.falsy(outcomes.ok, `control: ${op} of a canary directly must fail for ${user.name}`);
  t.deepEqual(await canaries.changes(), [], 'control: direct attempts changed nothing');
  t.deepEqual(canaries.leaked(raw.stdout), [], 'control: nothing read');
}

/** parent/name, a 0755 directory owned by the user (made on the raw directory, before any client sees it). */
export async function userDir(parent: string, name: string, user: HostileUser): Promise<string> {
  const p = join(parent, name);
  await mkdir(p, { mode: 0o755 });
  await chown(p, user.uid, user.gid);
  return p;
}

/** An operation of the attacker that waited this long for the mount counts as a hang. */
export const HANG_SECONDS = 5;
