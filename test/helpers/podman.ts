// Real containers for the docker/ tests, with Debian's podman (no Docker
// engine and no image registry here):
//
//   const gate = await canRunPodman();           // { ok: false, reason } when not root etc.
//   const built = await buildImages();           // once per test run, shared by every test file
//   const stack = new ComposeStack({ ...env });  // docker/compose.yaml under podman-compose
//   await stack.up(); ... await stack.down();
//
// podman here needs runc, cgroupfs, the file events logger and rlimits no
// higher than this process's own (no CAP_SYS_RESOURCE): a containers.conf
// written for this machine, passed as CONTAINERS_CONF to every podman call.
// Health checks have no systemd timer here: `podman healthcheck run` runs one.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withFileLock } from './file-lock.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = join(here, '..', '..', '..');
const COMPOSE = join(REPO, 'docker', 'compose.yaml');
const STANDINS = join(REPO, 'test', 'helpers', 'podman-base-images.sh');
// Kept across runs on one machine: the layer cache makes a rebuild of
// unchanged sources take seconds.
const STATE = '/var/tmp/stableid-podman';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; never throws for a non-zero exit (the caller looks at code). */
export function exec(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20, env: opts.env ?? process.env, cwd: opts.cwd },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** As exec, but a non-zero exit is an error naming the command and its output. */
export async function check(cmd: string, args: string[], opts: Parameters<typeof exec>[2] = {}): Promise<string> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${(r.stderr || r.stdout).slice(-3000)}`);
  return r.stdout;
}

export async function canRunPodman(): Promise<{ ok: boolean; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'container tests need root (rootful podman, FUSE, loop mounts)' };
  if (!(await access('/dev/fuse').then(() => true, () => false))) return { ok: false, reason: 'no /dev/fuse' };
  for (const [bin, pkg] of [['podman', 'podman'], ['runc', 'runc'], ['podman-compose', 'podman-compose'], ['mmdebstrap', 'mmdebstrap']]) {
    if ((await exec('sh', ['-c', `command -v ${bin}`])).code !== 0) return { ok: false, reason: `no ${bin} (apt-get install ${pkg}; .ci/deps.d/containers.txt)` };
  }
  return { ok: true, reason: '' };
}

/** The environment for podman and podman-compose on this machine. */
export async function podmanEnv(): Promise<NodeJS.ProcessEnv> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const hard = (name: string) => {
    const m = new RegExp(`^Max ${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits);
    return m && m[1] !== 'unlimited' ? Number(m[1]) : 1 << 20;
  };
  // podman caps its own process limit at kernel.pid_max before it starts the runtime.
  const pidMax = Number(await readFile('/proc/sys/kernel/pid_max', 'utf8'));
  const nofile = hard('open files');
  const nproc = Math.min(hard('processes'), pidMax);
  const conf = `# Written by test/helpers/podman.ts for this machine.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;
  await mkdir(STATE, { recursive: true });
  const file = join(STATE, `containers-${createHash('sha256').update(conf).digest('hex').slice(0, 12)}.conf`);
  await writeFile(file, conf);
  return { ...process.env, CONTAINERS_CONF: file };
}

export async function podman(args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<Result> {
  return exec('podman', args, { ...opts, env: await podmanEnv() });
}

export interface BuiltImages {
  sidecar: string;
  samba: string;
  /** What this call did, for the test log: seconds per step, or "reused". */
  timings: Record<string, string>;
  /** podman build's output for the sidecar image. */
  sidecarLog: string;
}

/**
 * The base-image stand-ins (where no real image is there) and both images of
 * docker/, built with `--format docker` (the OCI format drops HEALTHCHECK).
 * Once per test run: every ava worker of one run has the same parent, and
 * the tags carry its pid, so the second test file finds them made.
 */
export async function buildImages(): Promise<BuiltImages> {
  const run = `run${process.ppid}`;
  const sidecar = `localhost/stableid-test-sidecar:${run}`;
  const samba = `localhost/stableid-test-samba:${run}`;
  await mkdir(STATE, { recursive: true });
  return withFileLock(join(STATE, 'build.lock'), 30 * 60_000, async () => {
    const timings: Record<string, string> = {};
    const logFile = join(STATE, `${run}-sidecar-build.log`);
    if ((await podman(['image', 'exists', sidecar])).code === 0 && (await podman(['image', 'exists', samba])).code === 0) {
      return { sidecar, samba, timings: { images: 'reused (built earlier in this run)' }, sidecarLog: await readFile(logFile, 'utf8') };
    }
    await dropOtherRuns(run);
    await dropDeadStacks();
    const timed = async (what: string, fn: () => Promise<string>) => {
      const t0 = Date.now();
      const out = await fn();
      timings[what] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      return out;
    };
    const env = await podmanEnv();
    const recipe = createHash('sha256').update(await readFile(STANDINS)).digest('hex').slice(0, 16);
    await timed('base stand-ins', () => check('sh', [STANDINS, recipe], { env, timeoutMs: 15 * 60_000 }));
    const build = (file: string, tag: string, context: string) =>
      check('podman', ['build', '--format', 'docker', '--pull=never', '-f', file, '-t', tag, context], { env, timeoutMs: 20 * 60_000 });
    const sidecarLog = await timed('sidecar image', () => build(join(REPO, 'docker', 'Dockerfile'), sidecar, REPO));
    await writeFile(logFile, sidecarLog);
    await timed('samba image', () => build(join(REPO, 'docker', 'samba.Dockerfile'), samba, join(REPO, 'docker')));
    return { sidecar, samba, timings, sidecarLog };
  });
}

/** Untag the images of earlier runs (their layers stay in the build cache). */
async function dropOtherRuns(run: string): Promise<void> {
  const list = await podman(['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=localhost/stableid-test-*']);
  for (const ref of list.stdout.split('\n').filter(Boolean)) if (!ref.endsWith(`:${run}`)) await podman(['untag', ref]);
}

/**
 * Containers, volumes and networks of test runs that died before their
 * teardown (all are named docker-PID...).
 */
async function dropDeadStacks(): Promise<void> {
  const dead = (name: string) => {
    const m = /^docker-(\d+)[-_]/.exec(name);
    if (!m) return false;
    try {
      process.kill(Number(m[1]), 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  const containers = (await podman(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter(dead);
  if (containers.length) await podman(['rm', '-f', '-v', '-t', '5', ...containers]);
  const volumes = (await podman(['volume', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(dead);
  if (volumes.length) await podman(['volume', 'rm', '-f', ...volumes]);
  const networks = (await podman(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(dead);
  for (const n of networks) await podman(['network', 'rm', n]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface StackOptions {
  /** The compose project, also the prefix of every container, volume and network name. */
  project: string;
  images: BuiltImages;
  /** STABLEID_SOURCE and STABLEID_DIR on the host. */
  source: string;
  dir: string;
  smbPort: number;
}

/** docker/compose.yaml run by podman-compose, exactly as the file says, with the images built above. */
export class ComposeStack {
  constructor(readonly o: StackOptions) {}

  container(service: 'stableid' | 'samba'): string {
    return `${this.o.project}_${service}_1`;
  }

  async compose(args: string[], timeoutMs = 180_000): Promise<Result> {
    const env = {
      ...(await podmanEnv()),
      STABLEID_SOURCE: this.o.source,
      STABLEID_DIR: this.o.dir,
      STABLEID_IMAGE: this.o.images.sidecar,
      STABLEID_SAMBA_IMAGE: this.o.images.samba,
      STABLEID_SMB_PORT: String(this.o.smbPort),
    };
    return exec('podman-compose', ['-p', this.o.project, '-f', COMPOSE, ...args], { env, timeoutMs });
  }

  async up(): Promise<void> {
    const r = await this.compose(['up', '-d', '--no-build']);
    if (r.code !== 0) throw new Error(`podman-compose up failed (${r.code}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  }

  /** Containers, the named volumes and the network, gone (podman-compose 1.0.3 leaves the network). */
  async down(): Promise<void> {
    await this.compose(['down', '-v', '-t', '30']);
    await podman(['network', 'rm', `${this.o.project}_default`]);
  }

  health(service: 'stableid' | 'samba'): Promise<Health> {
    return healthOf(this.container(service));
  }

  waitHealth(service: 'stableid' | 'samba', want: boolean, timeoutMs?: number): Promise<string> {
    return waitHealth(this.container(service), want, timeoutMs);
  }

  async exec(service: 'stableid' | 'samba', cmd: string[], input?: string): Promise<Result> {
    return podman(['exec', ...(input === undefined ? [] : ['-i']), this.container(service), ...cmd], { input, timeoutMs: 60_000 });
  }

  async state(service: 'stableid' | 'samba'): Promise<{ status: string; exitCode: number }> {
    const r = await podman(['inspect', this.container(service), '--format', '{{.State.Status}} {{.State.ExitCode}}']);
    const [status, code] = r.stdout.trim().split(' ');
    return { status, exitCode: Number(code) };
  }
}

export interface Health {
  healthy: boolean;
  /** The health check script's own words. */
  reason: string;
}

/** One health check run now (no systemd timer runs them here): exit 0 healthy. */
export async function healthOf(container: string): Promise<Health> {
  const r = await podman(['healthcheck', 'run', container], { timeoutMs: 60_000 });
  const log = await podman(['inspect', container, '--format', '{{json .State.Health.Log}}']);
  const entries = JSON.parse(log.stdout || 'null') as { Output: string }[] | null;
  return { healthy: r.code === 0, reason: (entries?.at(-1)?.Output ?? r.stdout + r.stderr).trim() };
}

/** Until health is `want` (returns the reason), or fail with the last reason and the container's log. */
export async function waitHealth(container: string, want: boolean, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await healthOf(container);
    if (h.healthy === want) return h.reason;
    if (Date.now() > deadline) {
      const logs = await podman(['logs', '--tail', '30', container]);
      throw new Error(`${container} never became ${want ? 'healthy' : 'unhealthy'}: ${h.reason}\n${logs.stdout}${logs.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A process on the host that holds `file` open until killed (a client in the middle of a read). */
export function holdOpen(file: string): { stop: () => void; ready: Promise<void> } {
  const child = spawn('sh', ['-c', 'exec 3<"$1" && echo open && exec sleep 600', 'hold', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`could not open ${file} (exit ${code})`)));
  });
  return { stop: () => child.kill('SIGKILL'), ready };
}
