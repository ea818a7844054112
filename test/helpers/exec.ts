// Run a child process with a timeout and binary stdout (9P tests read file bytes), never blocking the event loop.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'buffer', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr: stderr.toString() + (err && code === -1 ? String(err.message) : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The first of `names` found on PATH (or /usr/sbin, /sbin), else undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin']) {
    const p = `${dir}/${name}`;
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return undefined;
}
