// One large file copied over SMB by smbclient from a share of each target (the
// raw directory, bindfs, the stableid FUSE mount with -o allow_other as the
// deployment runs it), all in one smbd on 127.0.0.1, logged in as a non-root
// user as Samba's users are: get cold (caches dropped), get page-cached, put
// (into the page cache, no fsync). Median of 3, MiB/s from smbclient's own
// transfer time (open to close, without connect and login).
// `node dist/test/bench/e2e/samba-copy.bench.js` prints JSON lines.
import { access, chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { smbConfSnippet } from '../../../lib/cli/commands/smb-conf.js';
import { run as runCmd, runOk } from '../../helpers/run.js';
import { addSmbUser, launchSmbd, type ShareSpec, type Smbd } from '../../helpers/smbd.js';
import { createUser, deleteUser, type UnixUser } from '../../helpers/unix-user.js';
import type { BenchLine } from '../run.js';
import { dropCaches, median, openBench, type Target } from './fuse-targets.js';

const SIZE = process.env.STABLEID_BENCH_SIZE ?? '1G';
const REPS = 3;
const SMBCLIENT = '/usr/bin/smbclient';
const PASSWORD = 'stableid-bench';
const FILE = 'bigfile';

interface Side {
  target: Target;
  share: string;
}

interface Ctx {
  smbd: Smbd;
  user: UnixUser;
  /** smbclient's smb.conf: its caches in our temp dir, not /var/cache/samba. */
  clientConf: string;
  /** The put source, on tmpfs so reading it costs nothing. */
  local: string;
  src: string;
  bytes: number;
}

/** One smbclient command on a share; the bytes/s smbclient reports for it (KiloBytes = 1024 bytes). */
async function smbclient(c: Ctx, share: string, cmd: string, verb: 'getting' | 'putting'): Promise<number> {
  const args = ['-s', c.clientConf, `//127.0.0.1/${share}`, '-p', String(c.smbd.port), '-U', `${c.user.name}%${PASSWORD}`, '-c', cmd];
  const res = await runCmd(SMBCLIENT, args, { timeoutMs: 600_000 });
  const r = res.stdout + res.stderr; // the rate line is on stderr
  if (res.timedOut || res.code !== 0) throw new Error(`smbclient -c '${cmd}' on [${share}]: ${res.timedOut ? 'timed out' : `exit ${res.code ?? res.signal}`}\n${r}`);
  // smbclient exits 0 even when the command fails; the rate line is the proof it ran.
  const m = new RegExp(`${verb} file .* \\(([\\d.]+) (?:KiloBytes/sec|kb/s)\\)`).exec(r);
  if (!m) throw new Error(`smbclient -c '${cmd}' on [${share}] printed no transfer rate:\n${r}`);
  if (verb === 'getting' && !r.includes(`of size ${c.bytes} `)) throw new Error(`smbclient got a file of the wrong size from [${share}] (want ${c.bytes}):\n${r}`);
  return Number(m[1]) * 1024;
}

const get = (c: Ctx, s: Side) => smbclient(c, s.share, `get ${FILE} /dev/null`, 'getting');

const workloads: Array<{ name: string; run: (c: Ctx, s: Side) => Promise<number>; warm?: boolean; goal?: string }> = [
  {
    name: 'smbclient get, cold',
    run: async (c, s) => {
      await dropCaches();
      return get(c, s);
    },
    goal: 'stableid >= bindfs throughput',
  },
  { name: 'smbclient get, page-cached', run: get, warm: true, goal: 'stableid at raw speed' },
  {
    name: 'smbclient put (no fsync)',
    run: async (c, s) => {
      const bw = await smbclient(c, s.share, `put ${c.local} up/put.dat`, 'putting');
      const got = (await stat(join(c.src, 'up', 'put.dat'))).size;
      if (got !== c.bytes) throw new Error(`put to [${s.share}] left ${got} bytes, want ${c.bytes}`);
      // Removed through the target, not on src behind its back: bindfs keeps the
      // name cached and the next put there fails with NT_STATUS_OBJECT_NAME_NOT_FOUND.
      await runOk('rm', [join(s.target.dir, 'up', 'put.dat')]);
      return bw;
    },
    goal: 'stableid >= bindfs throughput',
  },
];

/** Every share: the stableid mount with the section `stableid smb-conf` prints, the others plain. */
function shareOf(t: Target): ShareSpec {
  if (t.name === 'stableid-fuse') return { name: t.name, section: smbConfSnippet({ path: t.dir, share: t.name }) };
  return { name: t.name, section: `[${t.name}]\n  path = ${t.dir}\n  read only = no\n` };
}

async function measure(c: Ctx, sides: Side[]): Promise<BenchLine[]> {
  const out: BenchLine[] = [];
  for (const w of workloads) {
    for (const s of sides) {
      if (w.warm) await w.run(c, s);
      const xs: number[] = [];
      for (let i = 0; i < REPS; i++) xs.push(await w.run(c, s));
      out.push({ bench: 'samba-copy', name: w.name, target: s.target.name, baseline: s.target.name === 'raw', value: Math.round(median(xs) / 1048576), unit: 'MiB/s', better: 'higher', goal: w.goal, note: `size ${SIZE}, median of ${REPS}, SMB user ${c.user.uid === 0 ? 'root' : 'non-root'}` });
      console.log(JSON.stringify(out.at(-1)));
    }
  }
  return out;
}

export async function run(): Promise<BenchLine[]> {
  if (process.getuid?.() !== 0) throw new Error('samba-copy.bench needs root (FUSE mounts, smbd, useradd)');
  await access(SMBCLIENT).catch(() => {
    throw new Error(`no ${SMBCLIENT}: apt-get install smbclient (listed in .ci/deps.d/samba.txt)`);
  });
  // Undone in reverse order, also when a step fails or the runner sends SIGTERM.
  const cleanups: Array<() => Promise<unknown>> = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const c of cleanups.reverse()) await c().catch((err) => console.error(`samba-copy cleanup: ${err}`));
    })());
  const onSignal = () => void close().then(() => process.exit(143));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const b = await openBench('stableid-bench-smb-', { options: ['allow_other'] });
    cleanups.push(() => b.close());
    let userName = '';
    cleanups.push(async () => {
      if (!userName) return;
      const d = await deleteUser(userName);
      if (d.code !== 0) throw new Error(`userdel ${userName} failed (${d.code}): ${d.stderr}`);
    });
    const user = await createUser('smb-bench', (name) => (userName = name));
    // smbd reaches the share as the user: every directory above it must let the user through.
    await chmod(b.root, 0o755);
    await runOk('fio', ['--name=b', `--filename=${join(b.src, FILE)}`, '--rw=write', '--bs=1M', `--size=${SIZE}`, '--ioengine=psync', '--fallocate=none', '--end_fsync=1'], { timeoutMs: 600_000 });
    await chmod(join(b.src, FILE), 0o644);
    await mkdir(join(b.src, 'up'));
    await chown(join(b.src, 'up'), user.uid, user.gid);
    const bytes = (await stat(join(b.src, FILE))).size;

    const shm = await mkdtemp('/dev/shm/stableid-bench-smb-');
    cleanups.push(() => rm(shm, { recursive: true, force: true }));
    const local = join(shm, 'put.dat');
    await runOk('cp', [join(b.src, FILE), local], { timeoutMs: 600_000 });
    const clientConf = join(shm, 'client.conf');
    const cd = join(shm, 'client');
    await mkdir(cd);
    await writeFile(clientConf, `[global]\n  cache directory = ${cd}\n  lock directory = ${cd}\n  state directory = ${cd}\n  private dir = ${cd}\n`);

    const sides = b.targets.map((target) => ({ target, share: target.name }));
    const smb = await launchSmbd(sides.map((s) => shareOf(s.target)));
    cleanups.push(() => smb.close());
    await addSmbUser(smb.smbd, user.name, PASSWORD);
    return await measure({ smbd: smb.smbd, user, clientConf, local, src: b.src, bytes }, sides);
  } finally {
    await close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

if (process.argv[1]?.endsWith('samba-copy.bench.js')) await run();
