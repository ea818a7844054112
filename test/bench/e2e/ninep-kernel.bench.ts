// The Linux kernel's 9P client (QEMU TCG guest) against stableid serve-9p and
// diod on the same directory, in one boot: `dd` of a 1 GiB file (msize
// 1 MiB asked, cache=none, access=0: diod refuses root attaches otherwise)
// and `stat` of 200 files x 10 (walk+getattr each).
// The guest's emulated CPU and NIC bound both servers alike; the ratio is
// what to read. Runs alternate between the servers. `node dist/test/bench/e2e/ninep-kernel.bench.js`.
import { fileURLToPath } from 'node:url';
import { guestKit } from '../../guest/kit.js';
import { runGuest } from '../../guest/vm.js';
import { DIOD_MISSING, median, ratioTable, type Result, startPeers } from './ninep-peers.js';

const MIB = Number(process.env.NINEP_BENCH_MIB ?? 1024);
const REPEAT = 3;
const STAT_LOOPS = 10;

function script(src: string, ports: Record<string, number>): string {
  const now = `cut -d' ' -f1 /proc/uptime`;
  const mounts = Object.entries(ports)
    .map(([name, port]) => `mkdir -p /${name} && mount -t 9p -o trans=tcp,port=${port},version=9p2000.L,aname=${src},msize=1048576,cache=none,access=0 10.0.2.2 /${name} || echo @@FAIL mount ${name}`)
    .join('\n');
  const rounds = Object.keys(ports)
    .map((name) => `
  t0=$(${now}); dd if=/${name}/big.bin of=/dev/null bs=1M 2>/dev/null || echo @@FAIL dd; t1=$(${now}); echo "@@READ ${name} $r $t0 $t1"
  t0=$(${now}); i=0; while [ $i -lt ${STAT_LOOPS} ]; do stat -c %i /${name}/d1/d2/* > /dev/null || echo @@FAIL stat; i=$((i+1)); done; t1=$(${now}); echo "@@STAT ${name} $r $t0 $t1"`)
    .join('');
  return `${mounts}\nfor r in ${Array.from({ length: REPEAT + 1 }, (_, i) => i).join(' ')}; do${rounds}\ndone\n`;
}

export async function run(): Promise<Result[]> {
  const kit = await guestKit();
  if (!kit.ok) {
    console.log(JSON.stringify({ bench: 'ninep-kernel', skipped: kit.reason }));
    return [];
  }
  const peers = await startPeers(MIB);
  if (!peers) {
    console.log(JSON.stringify({ bench: 'ninep-kernel', skipped: DIOD_MISSING }));
    return [];
  }
  try {
    const out = await runGuest({ kit: kit.kit, script: script(peers.src, peers.ports), timeoutMs: 1_200_000 });
    const text = out.lines.join('\n');
    if (out.exit !== 0 || /@@FAIL/.test(text)) throw new Error(`guest run failed:\n${text}`);
    const results: Result[] = [];
    for (const server of ['stableid', 'diod']) {
      const times = (tag: string) =>
        [...text.matchAll(new RegExp(`^@@${tag} ${server} (\\d+) ([\\d.]+) ([\\d.]+)$`, 'gm'))]
          .filter((m) => m[1] !== '0') // round 0 warms up
          .map((m) => Number(m[3]) - Number(m[2]));
      const reads = times('READ').map((s) => MIB / s);
      const stats = times('STAT').map((s) => (peers.files * STAT_LOOPS) / s);
      results.push({ bench: `guest kernel: dd ${MIB} MiB, msize 1 MiB asked, cache=none`, server, metric: 'throughput', value: median(reads), unit: 'MiB/s', runs: reads });
      results.push({ bench: 'guest kernel: stat (walk+getattr) of 200 files', server, metric: 'ops', value: median(stats), unit: 'stat/s', runs: stats });
    }
    return results;
  } finally {
    await peers.stop();
  }
}

export default run;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rs = await run();
  for (const r of rs) console.log(JSON.stringify(r));
  console.log(`\n${ratioTable(rs)}`);
}
