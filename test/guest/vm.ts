// Boot the guest with one shell script and collect what it prints. The
// guest reaches the host's loopback as 10.0.2.2 (QEMU user networking).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../helpers/exec.js';
import type { GuestKit } from './kit.js';

export interface GuestRun {
  /** Console lines (CR stripped). */
  lines: string[];
  /** The script's exit status, or undefined if it never finished. */
  exit: number | undefined;
}

export interface GuestOptions {
  kit: GuestKit;
  script: string;
  timeoutMs?: number;
  /** Called for each console line as it arrives (for multi-phase scripts). */
  onLine?: (line: string) => void | Promise<void>;
}

export async function runGuest(opts: GuestOptions): Promise<GuestRun> {
  const { kit } = opts;
  const dir = await mkdtemp(join(kit.cacheDir, 'run-'));
  try {
    // Base initramfs + a second archive with /script.sh.
    await writeFile(join(dir, 'script.sh'), opts.script, { mode: 0o755 });
    const r = await run('sh', ['-c', `cd "${dir}" && echo script.sh | cpio -o -H newc --quiet | gzip -1 > extra.cpio.gz`]);
    if (r.code !== 0) throw new Error(`cpio: ${r.stderr}`);
    const initrd = join(dir, 'initrd');
    // The kernel skips zero padding between archives; pad so the second starts aligned.
    const base = await readFile(kit.initrd);
    const pad = Buffer.alloc((512 - (base.length % 512)) % 512);
    await writeFile(initrd, Buffer.concat([base, pad, await readFile(join(dir, 'extra.cpio.gz'))]));
    const args = [
      '-accel', 'tcg', '-m', '384', '-smp', '1', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
      '-kernel', kit.kernel, '-initrd', initrd,
      '-append', 'console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init',
      '-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0',
    ];
    return await new Promise<GuestRun>((resolve, reject) => {
      const vm = spawn(kit.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: string[] = [];
      let exit: number | undefined;
      let partial = '';
      let stderr = '';
      let chain = Promise.resolve();
      const timer = setTimeout(() => {
        lines.push(`@@TIMEOUT after ${opts.timeoutMs ?? 180_000} ms`);
        vm.kill('SIGKILL');
      }, opts.timeoutMs ?? 180_000);
      vm.stdout.on('data', (d: Buffer) => {
        partial += d.toString('utf8');
        const parts = partial.split('\n');
        partial = parts.pop()!;
        for (const raw of parts) {
          const line = raw.replace(/\r/g, '');
          lines.push(line);
          const m = /^@@EXIT (\d+)/.exec(line);
          if (m) exit = Number(m[1]);
          if (opts.onLine) chain = chain.then(() => opts.onLine!(line)).catch(reject);
        }
      });
      vm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      vm.on('error', reject);
      vm.on('close', () => {
        clearTimeout(timer);
        if (partial) lines.push(partial.replace(/\r/g, ''));
        if (stderr.trim()) lines.push(`@@QEMU-STDERR ${stderr.trim()}`);
        void chain.then(() => resolve({ lines, exit }));
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
