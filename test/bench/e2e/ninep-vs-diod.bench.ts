// 9P servers side by side on one directory, with the same clients:
//   stableid serve-9p (the real command: persistent mapper, child process)
//   diod -f -n (Debian's diod, the peer of DESIGN.md section 5)
// Workloads: sequential read of a 1 GiB file with diodcat (diod's C client,
// one request at a time) asking msize 64 KiB and 1 MiB (diod caps every
// session at 64 KiB); the same file with our test client keeping 4 reads in
// flight as the kernel's readahead does; and walk+getattr (+clunk)
// operations per second from our test client with 16 requests in flight. Prints one JSON line per result, then a ratio table.
// NINEP_BENCH_MIB shrinks the file (default 1024); NINEP_BENCH_SECONDS the op runs.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as M from '../../../lib/ninep/messages.js';
import { run, which } from '../../helpers/exec.js';
import { NinepClient } from '../../helpers/ninep-client.js';

const MIB = Number(process.env.NINEP_BENCH_MIB ?? 1024);
const SECONDS = Number(process.env.NINEP_BENCH_SECONDS ?? 3);
const REPEAT = 3;
const FILES = 200;

interface Result { bench: string; server: string; metric: string; value: number; unit: string; runs: number[] }

const results: Result[] = [];
function report(r: Result): void {
  results.push(r);
  console.log(JSON.stringify(r));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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

async function makeData(src: string): Promise<void> {
  const f = await open(join(src, 'big.bin'), 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7919) & 0xff;
  for (let i = 0; i < MIB; i++) await f.write(chunk);
  await f.close();
  await mkdir(join(src, 'd1/d2'), { recursive: true });
  for (let i = 0; i < FILES; i++) await (await open(join(src, 'd1/d2', `f${i}`), 'w')).close();
}

async function readThroughput(server: string, port: number, src: string, msize: number): Promise<void> {
  const diodcat = (await which('diodcat'))!;
  const cat = (sink: string) => run('sh', ['-c', `"${diodcat}" -s 127.0.0.1:${port} -a "${src}" -m ${msize} -t 600 big.bin ${sink}`], { timeoutMs: 600_000 });
  // Warm the page cache (we measure the servers, not the disk) and check the length once.
  const check = await cat('| wc -c');
  const bytes = Number(check.stdout.toString().trim());
  if (check.code !== 0 || bytes !== MIB * 1048576) throw new Error(`diodcat from ${server}: code ${check.code}, ${bytes} bytes: ${check.stderr}`);
  const runs: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = process.hrtime.bigint();
    const r = await cat('> /dev/null'); // a pipe reader would be the bottleneck
    if (r.code !== 0) throw new Error(`diodcat from ${server}: ${r.stderr}`);
    runs.push(MIB / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  report({ bench: `read ${MIB} MiB (diodcat, msize ${msize >> 10} KiB asked)`, server, metric: 'throughput', value: median(runs), unit: 'MiB/s', runs });
}

/** As the kernel client reads ahead: several Treads in flight, each as large as the negotiated msize allows. */
async function pipelinedRead(server: string, port: number, src: string): Promise<void> {
  const c = await NinepClient.connect(`tcp:127.0.0.1:${port}`);
  await c.version(1 << 20);
  await c.rpc(M.Tattach, { fid: 0, afid: M.NOFID, uname: 'root', aname: src, n_uname: 0 });
  await c.walk(0, 1, 'big.bin');
  await c.rpc(M.Tlopen, { fid: 1, flags: 0 });
  const chunk = c.msize - 24; // diod answers EIO past msize - P9_IOHDRSZ
  const total = MIB * 1048576;
  const once = async () => {
    let next = 0;
    let got = 0;
    let short: string | undefined;
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < total) {
        const off = next;
        next += chunk;
        const n = ((await c.rpc(M.Tread, { fid: 1, offset: BigInt(off), count: chunk })).data as Buffer).length;
        if (n !== Math.min(chunk, total - off)) short ??= `${n} bytes at offset ${off}`;
        got += n;
      }
    }));
    if (got !== total) throw new Error(`${server}: read ${got} of ${total} bytes (first short read: ${short})`);
    return MIB / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  await once();
  const runs: number[] = [];
  for (let i = 0; i < REPEAT; i++) runs.push(await once());
  c.close();
  report({ bench: `read ${MIB} MiB (test client, 4 reads in flight, msize 1 MiB asked)`, server, metric: 'throughput', value: median(runs), unit: 'MiB/s', runs });
  console.log(JSON.stringify({ server, negotiatedMsize: c.msize }));
}

async function walkGetattr(server: string, port: number, src: string): Promise<void> {
  const c = await NinepClient.connect(`tcp:127.0.0.1:${port}`);
  await c.version(65536);
  await c.rpc(M.Tattach, { fid: 0, afid: M.NOFID, uname: 'root', aname: src, n_uname: 0 });
  const once = async () => {
    let ops = 0;
    const end = Date.now() + SECONDS * 1000;
    const worker = async (w: number) => {
      const fid = 100 + w;
      for (let i = w; Date.now() < end; i += 16) {
        await c.rpc(M.Twalk, { fid: 0, newfid: fid, wnames: ['d1', 'd2', `f${i % FILES}`] });
        await c.rpc(M.Tgetattr, { fid, request_mask: M.GETATTR_BASIC });
        await c.rpc(M.Tclunk, { fid });
        ops++;
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    return ops / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  await once();
  const runs: number[] = [];
  for (let i = 0; i < REPEAT; i++) runs.push(await once());
  c.close();
  report({ bench: 'walk(3 names)+getattr+clunk, 16 in flight', server, metric: 'ops', value: median(runs), unit: 'ops/s', runs });
}

export async function main(): Promise<void> {
  const diod = await which('diod');
  if (!diod || !(await which('diodcat'))) {
    console.log(JSON.stringify({ bench: 'ninep-vs-diod', skipped: 'diod is not installed (apt-get install diod; .ci/deps.d/ninep.txt)' }));
    return;
  }
  const base = await mkdtemp(join(tmpdir(), 'stableid-bench-9p-'));
  const src = join(base, 'src');
  await mkdir(src);
  const children: ChildProcess[] = [];
  try {
    await makeData(src);
    const ourPort = await freePort();
    const bin = fileURLToPath(new URL('../../../../bin/stableid', import.meta.url));
    const ours = spawn(process.execPath, [bin, 'serve-9p', src, '--listen', `tcp:127.0.0.1:${ourPort}`, '--state-dir', join(base, 'state')], { stdio: 'ignore' });
    children.push(ours);
    await waitForPort(ourPort, ours, 'stableid serve-9p');
    const diodPort = await freePort();
    const peer = spawn(diod, ['-f', '-n', '-l', `127.0.0.1:${diodPort}`, '-e', src], { stdio: 'ignore' });
    children.push(peer);
    await waitForPort(diodPort, peer, 'diod');

    for (const [name, port] of [['stableid', ourPort], ['diod', diodPort]] as const) {
      await readThroughput(name, port, src, 65536);
      await readThroughput(name, port, src, 1 << 20);
      await pipelinedRead(name, port, src);
      await walkGetattr(name, port, src);
    }
    console.log('\n| workload | stableid | diod | stableid / diod |\n|---|---|---|---|');
    for (const bench of new Set(results.map((r) => r.bench))) {
      const a = results.find((r) => r.bench === bench && r.server === 'stableid')!;
      const b = results.find((r) => r.bench === bench && r.server === 'diod')!;
      console.log(`| ${bench} | ${a.value.toFixed(0)} ${a.unit} | ${b.value.toFixed(0)} ${b.unit} | ${(a.value / b.value).toFixed(2)}x |`);
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await rm(base, { recursive: true, force: true });
  }
}

// Run when executed directly (node dist/test/bench/e2e/ninep-vs-diod.bench.js) or imported by run.js.
await main();
