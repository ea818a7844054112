// Child processes with timeouts. Tests never touch a FUSE mount from their
// own process: a stuck server would hang the test runner in D state. Every
// client runs here, as a child that is killed when its time is up.
import { type ChildProcess, spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a child that exits without reading its input is not our failure
      child.stdin.end(opts.input);
    }
  });
}

/** Like run(), but rejects unless the command exits 0 in time. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.timedOut) throw new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs ?? 30_000} ms\n${r.stderr}`);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A long-running child (a server): its output so far, a way to wait for a line, and its exit. */
export class Started {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout = '';
  stderr = '';
  private waiters: Array<() => void> = [];

  /** opts.stdin 'pipe': the child's stdin stays open until child.stdin.end() (a holder that lives as long as the test). */
  constructor(cmd: string, args: string[], env?: NodeJS.ProcessEnv, opts: { stdin?: 'ignore' | 'pipe' } = {}) {
    this.child = spawn(cmd, args, { env: env ?? process.env, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
    const wake = () => this.waiters.splice(0).forEach((w) => w());
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => ((this.stdout += d), wake()));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => ((this.stderr += d), wake()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => (wake(), resolve({ code, signal }))));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when stdout or stderr matches; rejects on exit or timeout. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.stdout + this.stderr)) {
      if (!this.running) throw new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before ${re}:\n${this.stderr}${this.stdout}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}:\n${this.stderr}${this.stdout}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Resolves with the exit, or undefined if it is still running after timeoutMs. */
  async exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.exited, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, timeoutMs, undefined)))]);
    clearTimeout(timer);
    return r;
  }
}
