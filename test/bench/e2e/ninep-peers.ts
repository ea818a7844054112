// Shared by the 9P benchmarks: a source directory with a big file and a
// small tree, served at once by `stableid serve-9p` (the real command, a
// child process with the persistent mapper) and by diod, each on its port.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../../helpers/exec.js';
import { NinepClient } from '../../helpers/ninep-client.js';

export interface Result { bench: string; server: string; metric: string; value: number; unit: string; runs: number[] }

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface Peers {
  src: string;
  mib: number;
  files: number;
  /** server name -> TCP port on 127.0.0.1 */
  ports: { stableid: number; diod: number };
  stop(): Promise<void>;
}

export const DIOD_MISSING = 'diod is not installed (apt-get install diod; .ci/deps.d/ninep.txt)';

/** Undefined when diod is not installed. */
export async function startPeers(mib: number, files = 200): Promise<Peers | undefined> {
  const diod = await which('diod');
  if (!diod) return undefined;
  const base = await mkdtemp(join(tmpdir(), 'stableid-bench-9p-'));
  const src = join(base, 'src');
  await mkdir(src);
  // mkdtemp makes 0700; diod serves the kernel client's attach as "nobody", which must traverse it.
  await chmod(base, 0o755);
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await rm(base, { recursive: true, force: true });
  };
  try {
    await makeData(src, mib, files);
    const ourPort = await freePort();
    const bin = fileURLToPath(new URL('../../../../bin/stableid', import.meta.url));
    const ours = spawn(process.execPath, [bin, 'serve-9p', src, '--listen', `tcp:127.0.0.1:${ourPort}`, '--state-dir', join(base, 'state')], { stdio: 'ignore' });
    children.push(ours);
    await waitForPort(ourPort, ours, 'stableid serve-9p');
    const diodPort = await freePort();
    const peer = spawn(diod, ['-f', '-n', '-l', `127.0.0.1:${diodPort}`, '-e', src], { stdio: 'ignore' });
    children.push(peer);
    await waitForPort(diodPort, peer, 'diod');
    return { src, mib, files, ports: { stableid: ourPort, diod: diodPort }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function makeData(src: string, mib: number, files: number): Promise<void> {
  const f = await open(join(src, 'big.bin'), 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7919) & 0xff;
  for (let i = 0; i < mib; i++) await f.write(chunk);
  await f.close();
  await mkdir(join(src, 'd1/d2'), { recursive: true });
  for (let i = 0; i < files; i++) await (await open(join(src, 'd1/d2', `f${i}`), 'w')).close();
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await NinepClient.connect(`tcp:127.0.0.1:${port}`).then((c) => (c.close(), true), () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

export function ratioTable(rs: Result[], a = 'stableid', b = 'diod'): string {
  const lines = [`| workload | ${a} | ${b} | ${a} / ${b} |`, '|---|---|---|---|'];
  for (const bench of new Set(rs.map((r) => r.bench))) {
    const x = rs.find((r) => r.bench === bench && r.server === a);
    const y = rs.find((r) => r.bench === bench && r.server === b);
    if (x && y) lines.push(`| ${bench} | ${x.value.toFixed(0)} ${x.unit} | ${y.value.toFixed(0)} ${y.unit} | ${(x.value / y.value).toFixed(2)}x |`);
  }
  return lines.join('\n');
}
