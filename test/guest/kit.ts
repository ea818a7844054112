// The QEMU guest that runs the Linux kernel's 9P (or NFSv4) client: Debian's kernel
// (linux-image-amd64) and a busybox initramfs with the 9p (or nfs) modules, built at
// test time into a cache directory (never committed). One base initramfs per
// kernel version; each run appends a small cpio holding that run's script
// (the kernel unpacks concatenated archives in order).
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../helpers/exec.js';

export interface GuestKit {
  qemu: string;
  kernel: string;
  /** gzip'd newc cpio: busybox, modules, /init. */
  initrd: string;
  kernelVersion: string;
  cacheDir: string;
}

export type Gate = { ok: true; kit: GuestKit } | { ok: false; reason: string };

// Loaded in this order; dependencies (modinfo -F depends) are added ahead of
// each (for nfsv4: sunrpc, netfs, fscache, grace, lockd, nfs, dns_resolver).
// The 9P TCP transport lives in 9pnet_fd (Debian's 6.1) or 9pnet_tcp, by version.
export type GuestFlavor = '9p' | 'nfs';
const WANTED: Record<GuestFlavor, string[]> = {
  '9p': ['netfs', 'fscache', '9pnet', '9pnet_fd', '9pnet_tcp', '9p', 'e1000'],
  nfs: ['e1000', 'nfsv4'],
};
const OPTIONAL = new Set(['9pnet_fd', '9pnet_tcp', 'fscache']);
const FIX = 'apt-get install qemu-system-x86 linux-image-amd64 busybox-static cpio kmod (CI installs .ci/deps.d/ninep.txt)';

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(ls /modules | sort); do insmod /modules/$m || echo "@@INSMOD-FAILED $m"; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo @@READY
sh /script.sh
echo "@@EXIT $?"
sync
poweroff -f
`;

const cached = new Map<GuestFlavor, Promise<Gate>>();

/** Finds qemu, a Debian kernel with its modules and busybox, and builds the initramfs once per flavor. */
export function guestKit(flavor: GuestFlavor = '9p'): Promise<Gate> {
  let gate = cached.get(flavor);
  if (!gate) {
    gate = build(flavor).catch((err: Error): Gate => ({ ok: false, reason: `guest build failed: ${err.message}` }));
    cached.set(flavor, gate);
  }
  return gate;
}

async function build(flavor: GuestFlavor): Promise<Gate> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (the guest test mounts loop images)' };
  const qemu = await which('qemu-system-x86_64');
  if (!qemu) return { ok: false, reason: `qemu-system-x86_64 not found: ${FIX}` };
  const busybox = (await which('busybox')) ?? '/bin/busybox';
  if (!(await isStaticElf(busybox))) return { ok: false, reason: `${busybox} is not a static busybox: ${FIX}` };
  const modinfo = await which('modinfo');
  if (!modinfo) return { ok: false, reason: `modinfo not found: ${FIX}` };
  const kernelVersion = await findKernel();
  if (!kernelVersion) return { ok: false, reason: `no Debian kernel in /boot with modules in /lib/modules: ${FIX}` };
  const kernel = `/boot/vmlinuz-${kernelVersion}`;

  const cacheDir = process.env.STABLEID_GUEST_CACHE ?? join(tmpdir(), 'stableid-guest-cache');
  const initrd = join(cacheDir, flavor === '9p' ? `initrd-${kernelVersion}-v2.cpio.gz` : `initrd-${kernelVersion}-${flavor}-v1.cpio.gz`);
  const kit = { qemu, kernel, initrd, kernelVersion, cacheDir };
  if (await exists(initrd)) return { ok: true, kit };

  await mkdir(cacheDir, { recursive: true });
  const root = await mkdtemp(join(cacheDir, 'root-'));
  try {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'mnt', 'modules', 'tmp']) await mkdir(join(root, d));
    await copyFile(busybox, join(root, 'bin/busybox'));
    await writeFile(join(root, 'init'), INIT, { mode: 0o755 });
    const order = await moduleOrder(modinfo, kernelVersion, WANTED[flavor]);
    for (const [i, file] of order.entries()) {
      const base = file.split('/').at(-1)!;
      await copyFile(file, join(root, 'modules', `${String(i).padStart(2, '0')}-${base}`));
    }
    const tmp = `${initrd}.tmp-${process.pid}`;
    const r = await run('sh', ['-c', `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${tmp}"`]);
    if (r.code !== 0) throw new Error(`cpio: ${r.stderr}`);
    await rename(tmp, initrd);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return { ok: true, kit };
}

async function findKernel(): Promise<string | undefined> {
  const boot = await readdir('/boot').catch(() => [] as string[]);
  const versions = boot.filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice(8)).sort().reverse();
  for (const v of versions) if (await exists(`/lib/modules/${v}/kernel/fs/9p`)) return v;
  return undefined;
}

async function moduleOrder(modinfo: string, version: string, wanted: string[]): Promise<string[]> {
  const files: string[] = [];
  const seen = new Set<string>();
  async function add(name: string): Promise<void> {
    if (seen.has(name)) return;
    seen.add(name);
    const file = await run(modinfo, ['-k', version, '-F', 'filename', name]);
    const path = file.stdout.toString().trim();
    if (file.code !== 0 || !path || path === '(builtin)') {
      if (file.code !== 0 && !OPTIONAL.has(name)) throw new Error(`module ${name} not found for ${version}`);
      return;
    }
    const deps = (await run(modinfo, ['-k', version, '-F', 'depends', name])).stdout.toString().trim();
    for (const d of deps.split(',').filter(Boolean)) await add(d);
    if (!/\.ko$/.test(path)) throw new Error(`${path}: compressed modules are not supported by busybox insmod here`);
    files.push(path);
  }
  for (const m of wanted) await add(m);
  return files;
}

/** A static ELF has no PT_INTERP program header (the guest has no dynamic loader). */
async function isStaticElf(path: string): Promise<boolean> {
  const buf = await readFile(path).catch(() => undefined);
  if (!buf || buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) return false; // ELF64 only
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const size = buf.readUInt16LE(0x36);
  const count = buf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (buf.readUInt32LE(phoff + i * size) === 3 /* PT_INTERP */) return false;
  return true;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
