// A throwaway Unix user with a unique name (PREFIX-<hex>), made with useradd
// and removed with userdel, without ava: the hostile-client suite and the
// Samba benchmark run their clients' files through such users.
import { randomBytes } from 'node:crypto';
import { run, type RunResult } from './run.js';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
}

// useradd and userdel take a lock on /etc/passwd that other sessions may hold.
async function retried(cmd: string, args: string[]): Promise<RunResult> {
  let r: RunResult | undefined;
  for (let i = 0; i < 20; i++) {
    r = await run(cmd, args, { timeoutMs: 30_000 });
    if (r.code === 0) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
  return r!;
}

/**
 * Makes the user (no home, no login shell, its own group). `made` is called as
 * soon as the user exists, before its ids are read, so a caller can schedule
 * the removal even when this throws afterwards.
 */
export async function createUser(prefix: string, made: (name: string) => void = () => undefined): Promise<UnixUser> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const r = await retried('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  if (r.code !== 0) throw new Error(`useradd ${name} failed (${r.code}): ${r.stderr}`);
  made(name);
  const id = (flag: string) => run('id', [flag, name]).then((x) => Number(x.stdout.trim()));
  const user = { name, uid: await id('-u'), gid: await id('-g') };
  if (!(user.uid > 0 && user.gid > 0)) throw new Error(`id ${name}: no uid/gid`);
  return user;
}

/** userdel NAME, retried while another session holds the passwd lock; the last result. */
export function deleteUser(name: string): Promise<RunResult> {
  return retried('userdel', [name]);
}
