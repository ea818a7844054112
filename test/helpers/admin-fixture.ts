// Helpers for the admin tests (mount(8), systemd, status): a process's state
// from /proc, waiting for a detached server to end, and status as JSON.
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { StatusSnapshot } from '../../lib/status/snapshot.js';
import { REPO } from './mount-fixture.js';
import type { MountNamespace } from './mount-ns.js';
import { run, type RunResult } from './run.js';

export const STABLEID = join(REPO, 'bin/stableid');

export interface ProcState {
  state: string;
  ppid: number;
  session: number;
}

/** /proc/PID/stat, or undefined once the process is gone (a zombie counts as gone: it has exited). */
export async function procState(pid: number): Promise<ProcState | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // comm may hold spaces
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return { state: f[0]!, ppid: Number(f[1]), session: Number(f[3]) };
}

export async function waitGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await procState(pid))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Where a process's fd points (e.g. '/dev/null', the log file). */
export const fdTarget = (pid: number, fd: number): Promise<string> => readlink(`/proc/${pid}/fd/${fd}`);

/** `stableid status PATH --json`, run in the namespace when one is given. */
export async function statusJson(path: string, ns?: MountNamespace): Promise<StatusSnapshot> {
  const args = [STABLEID, 'status', path, '--json'];
  const r: RunResult = ns ? await ns.run(process.execPath, args, { timeoutMs: 15_000 }) : await run(process.execPath, args, { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`stableid status ${path}: exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as StatusSnapshot;
}

/** fuse.stableid entries of a mountinfo text (the mountpoint field). */
export function stableidMounts(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .filter((l) => / - fuse\.stableid /.test(l))
    .map((l) => l.split(' ')[4]!);
}
