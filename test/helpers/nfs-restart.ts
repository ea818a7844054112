// The NFS restart scenario, for any exported directories (raw, bindfs,
// stableid): the Linux NFSv4.2 client in the QEMU guest mounts each export
// from Ganesha, and for each filesystem in it (SRC's own, ext4, xfs) a
// background shell sits in a deep directory holding a file open for reading
// and one for appending. Then Ganesha stops, the host runs `whileDown`
// (restart the mounts, change the files, drop caches), Ganesha starts, and
// each shell goes on with what it holds: list its cwd, read the open file,
// append to the other, read a name relative to its cwd. A handle that did
// not survive shows as "Stale file handle" (ESTALE) or a failed state
// recovery; reading fresh.txt at the export root (made by whileDown, so never
// looked up before) shows the server and the root handle are up.
import { createServer } from 'node:http';
import { runGuest } from '../guest/vm.js';
import type { GuestKit } from '../guest/kit.js';

/** The directories the shells sit in, per filesystem, relative to the export root. */
export const NFS_DIRS = { root: 'top/d1/d2', ext4: 'ext4/d1/d2', xfs: 'xfs/d1/d2' } as const;
export type NfsFs = keyof typeof NFS_DIRS;

export interface NfsHeld {
  /** st_ino of the cwd, in the guest, before the restart. */
  held: string;
  /** After the restart: `ls` in the cwd, `cat` of the fd opened before, `cat` of a name relative to the cwd, of fresh.txt at the root. */
  cwd: string;
  openRead: string;
  relative: string;
  fresh: string;
  /** st_ino of the cwd after the restart ('' on error). */
  after: string;
}

export interface NfsRun {
  text: string;
  exit: number | undefined;
  /** exportName -> fs -> what its shell saw (undefined: the line never came). */
  results: Record<string, Partial<Record<NfsFs, Partial<NfsHeld>>>>;
  /** The time from stopping Ganesha to the guest being told to go on. */
  downMs: number;
}

export interface NfsRestartOptions {
  kit: GuestKit;
  port: number;
  /** Export names: each is mounted from SERVER:/NAME at /mnt/NAME. */
  exports: string[];
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** With the server stopped: restart mounts, change files, drop caches. */
  whileDown(): Promise<void>;
  timeoutMs?: number;
}

function script(port: number, sig: number, exports: string[]): string {
  const fss = Object.entries(NFS_DIRS);
  return `
for t in ${exports.join(' ')}; do
  mkdir -p /mnt/$t
  mount -t nfs4 -o vers=4.2,addr=10.0.2.2,clientaddr=10.0.2.15,port=${port} 10.0.2.2:/$t /mnt/$t || { echo "@@MOUNT-FAILED $t"; dmesg | tail -20; exit 1; }
done
one() { tr '\\n' ' '; }
hold() {
  cd /mnt/$1/$3 || { echo "@@HOLD-FAILED $1 $2"; touch /tmp/held.$1.$2; return; }
  exec 3< f.txt 4>> w-$1.txt
  echo "written before" >&4
  echo "@@HELD $1 $2 $(stat -c %i .)"
  touch /tmp/held.$1.$2
  while [ ! -e /tmp/go ]; do sleep 0.2; done
  echo "@@CWD $1 $2 $(ls 2>&1 | one)"
  echo "@@OPENREAD $1 $2 $(cat <&3 2>&1 | one)"
  echo "written after" >&4
  exec 3<&- 4>&-
  echo "@@RELATIVE $1 $2 $(cat f.txt 2>&1 | one)"
  echo "@@AFTER $1 $2 $(stat -c %i . 2>&1 | one)"
  echo "@@FRESH $1 $2 $(cat /mnt/$1/fresh.txt 2>&1 | one)"
}
n=0
for t in ${exports.join(' ')}; do
${fss.map(([fs, dir]) => `  hold $t ${fs} ${dir} &\n  n=$((n+1))`).join('\n')}
done
until [ "$(ls /tmp/held.* 2>/dev/null | wc -l)" -ge $n ]; do sleep 0.2; done
sync
echo @@PHASE1
until [ "$(wget -q -O - http://10.0.2.2:${sig}/ 2>/dev/null)" = go ]; do sleep 0.5; done
touch /tmp/go
wait
sync
dmesg | grep -iE 'nfs|stale' | tail -20
echo @@ALLDONE
`;
}

/** Boot the guest, run the scenario, return what each shell saw. */
export async function nfsRestart(o: NfsRestartOptions): Promise<NfsRun> {
  let go = false;
  const http = createServer((_req, res) => res.end(go ? 'go' : 'wait'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const sig = (http.address() as { port: number }).port;
  let downMs = 0;
  try {
    const out = await runGuest({
      kit: o.kit,
      script: script(o.port, sig, o.exports),
      timeoutMs: o.timeoutMs ?? 300_000,
      onLine: async (line) => {
        if (line !== '@@PHASE1') return;
        const t0 = Date.now();
        await o.stopServer();
        await o.whileDown();
        await o.startServer();
        downMs = Date.now() - t0;
        go = true;
      },
    });
    const results: NfsRun['results'] = {};
    const keys: Record<string, keyof NfsHeld> = { HELD: 'held', CWD: 'cwd', OPENREAD: 'openRead', RELATIVE: 'relative', AFTER: 'after', FRESH: 'fresh' };
    for (const line of out.lines) {
      const m = /^@@([A-Z]+) (\S+) (\S+) ?(.*)$/.exec(line);
      if (!m || !keys[m[1]!]) continue;
      const per = (results[m[2]!] ??= {});
      (per[m[3]! as NfsFs] ??= {})[keys[m[1]!]!] = m[4]!.trim();
    }
    return { text: out.lines.join('\n'), exit: out.exit, results, downMs };
  } finally {
    http.close();
  }
}
