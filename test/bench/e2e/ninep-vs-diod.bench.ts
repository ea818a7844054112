// 9P servers side by side on one directory, with the same clients:
//   stableid serve-9p (the real command: persistent mapper, child process)
//   diod -f -n (Debian's diod, the peer of DESIGN.md section 5)
// Workloads: sequential read of a 1 GiB file with diodcat (diod's C client,
// one request at a time) asking msize 64 KiB and 1 MiB (diod caps every
// session at 64 KiB); the same file with our test client keeping 4 reads in
// flight as the kernel's readahead does; and walk+getattr (+clunk)
// operations per second from our test client with 16 requests in flight. Prints one JSON line per result, then a ratio table.
// NINEP_BENCH_MIB shrinks the file (default 1024); NINEP_BENCH_SECONDS the op runs.
import { fileURLToPath } from 'node:url';
import * as M from '../../../lib/ninep/messages.js';
import { run as exec, which } from '../../helpers/exec.js';
import { NinepClient } from '../../helpers/ninep-client.js';
import { DIOD_MISSING, median, ratioTable, type Result, startPeers } from './ninep-peers.js';

const MIB = Number(process.env.NINEP_BENCH_MIB ?? 1024);
const SECONDS = Number(process.env.NINEP_BENCH_SECONDS ?? 3);
const REPEAT = 3;
const FILES = 200;

let results: Result[] = [];
const direct = Boolean(process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]);
function report(r: Result): void {
  results.push(r);
  if (direct) console.log(JSON.stringify(r));
}

async function readThroughput(server: string, port: number, src: string, msize: number): Promise<void> {
  const diodcat = (await which('diodcat'))!;
  const cat = (sink: string) => exec('sh', ['-c', `"${diodcat}" -s 127.0.0.1:${port} -a "${src}" -m ${msize} -t 600 big.bin ${sink}`], { timeoutMs: 600_000 });
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
  if (direct) console.log(JSON.stringify({ server, negotiatedMsize: c.msize }));
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

/** Runs every workload on both servers; the bench runner imports this. */
export async function run(): Promise<Result[]> {
  results = [];
  if (!(await which('diodcat'))) return skip();
  const peers = await startPeers(MIB, FILES);
  if (!peers) return skip();
  try {
    for (const name of ['stableid', 'diod'] as const) {
      const port = peers.ports[name];
      await readThroughput(name, port, peers.src, 65536);
      await readThroughput(name, port, peers.src, 1 << 20);
      await pipelinedRead(name, port, peers.src);
      await walkGetattr(name, port, peers.src);
    }
    return results;
  } finally {
    await peers.stop();
  }
}

function skip(): Result[] {
  console.log(JSON.stringify({ bench: 'ninep-vs-diod', skipped: DIOD_MISSING }));
  return [];
}

export default run;

// `node dist/test/bench/e2e/ninep-vs-diod.bench.js` prints JSON lines and the ratio table.
if (direct) console.log(`\n${ratioTable(await run())}`);
