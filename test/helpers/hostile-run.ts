// run() for clients of a mount that may hang: a FUSE client whose request the
// server has already taken waits for the answer in D state and survives
// SIGKILL, so its 'close' may never come. This one gives up on the child
// after the timeout (killed, its result marked timedOut) instead of waiting
// for it; teardown aborts the connection, which frees it.
import { spawn } from 'node:child_process';
import type { RunResult } from './run.js';

export function runBounded(cmd: string, args: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let done = false;
    const finish = (r: RunResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      setTimeout(() => finish({ code: null, signal: 'SIGKILL', stdout, stderr, timedOut: true }), 500).unref();
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (!done) reject(err);
      done = true;
    });
    child.on('close', (code, signal) => finish({ code, signal, stdout, stderr, timedOut: signal === 'SIGKILL' && !code }));
  });
}
