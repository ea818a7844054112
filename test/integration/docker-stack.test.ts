// docker/compose.yaml run for real: both images built with podman (the base
// images stood in for where no registry is reachable), the stack started by
// podman-compose over an ext4 and an xfs loop image under SOURCE, the
// mount checked on the host and in the Samba container, FileIds read over
// SMB2 by a non-root Samba user, and the sidecar killed, restarted and
// stopped under a client. One stack for the serial tests below, in order.
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMountinfo } from '../../lib/mountinfo.js';
import { canLoop, type LoopImages, loopImages } from '../helpers/loop-images.js';
import { type BuiltImages, buildImages, canRunPodman, check, ComposeStack, exec, freePort, healthOf, holdOpen, podman, REPO } from '../helpers/podman.js';
import { canRunSmbd, type SmbFileId, smbFileIds } from '../helpers/smbd.js';

const gate = await (async () => {
  for (const g of [await canRunPodman(), await canLoop(['ext4', 'xfs']), await canRunSmbd()]) if (!g.ok) return (g as { reason: string }).reason;
  return '';
})();
const serial = gate ? test.serial.skip : test.serial;
const why = gate ? ` (skipped: ${gate})` : '';

// A Samba user that is not root, owning SOURCE's files by uid as on a real host.
const USER = 'docker-alice';
const UID = 4242;
const PASSWORD = 'docker-alice-pw1';

interface World {
  built: BuiltImages;
  base: string;
  src: string;
  dir: string;
  imgs: LoopImages;
  stack: ComposeStack;
}
let w: World;
let ids: Map<string, bigint>;
// Teardowns for what before() made, run in reverse by after.always().
const cleanups: (() => Promise<unknown>)[] = [];

const mnt = () => join(w.dir, 'stable');
const umount = (path: string) => exec('umount', ['-l', path]);

/** A directory that is its own shared mount, as the docs ask of STABLEID_DIR and SOURCE. */
async function sharedDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await check('mount', ['--bind', path, path]);
  cleanups.push(() => umount(path));
  await check('mount', ['--make-shared', path]);
}

test.before(async (t) => {
  if (gate) return;
  t.timeout(40 * 60_000, 'building the images the first time');
  const built = await buildImages();
  t.log('image build:', JSON.stringify(built.timings));
  const base = await mkdtemp(join(tmpdir(), 'stableid-docker-'));
  cleanups.push(() => rm(base, { recursive: true, force: true }));
  const src = join(base, 'src');
  const dir = join(base, 'dir');
  await sharedDir(src);
  // loopImages registers its teardown on the context: here, on ours.
  const later = { teardown: (fn: () => Promise<void>) => cleanups.push(fn) } as unknown as ExecutionContext;
  const imgs = await loopImages(later, src, ['ext4', 'xfs']);
  await writeFile(join(src, 'top.txt'), 'on the root filesystem\n');
  await mkdir(join(src, 'ext4', 'sub'));
  await writeFile(join(src, 'ext4', 'sub', 'deep.txt'), 'deep\n');
  await check('chown', ['-R', `${UID}:${UID}`, src]);
  await sharedDir(dir);
  cleanups.push(() => umount(join(dir, 'stable')));
  const stack = new ComposeStack({ project: `docker-${process.pid}`, images: built, source: src, dir, smbPort: await freePort() });
  cleanups.push(() => stack.down());
  w = { built, base, src, dir, imgs, stack };
  await stack.up();
  await stack.waitHealth('stableid', true);
  await stack.waitHealth('samba', true);
});

test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

/** The mounts at the host's MNT, bottom first. */
async function hostMounts(): Promise<{ fstype: string; id: string }[]> {
  return (await readMountinfo()).filter((m) => m.mountPoint === mnt()).map((m) => ({ fstype: m.fstype, id: m.mountId }));
}

/** The mount answers on the host (from a child process with a timeout: a dead mount must not hang the test). */
async function hostAnswers(): Promise<boolean> {
  return (await exec('stat', ['-c', '%i', `${mnt()}/.`], { timeoutMs: 10_000 })).code === 0;
}

async function fileIdsAs(user: string, password: string, put: string[] = []): Promise<SmbFileId[]> {
  return smbFileIds({ port: w.stack.o.smbPort, share: 'data', user, password, put });
}

function byPath(t: ExecutionContext, files: SmbFileId[]): Map<string, bigint> {
  for (const f of files) if (f.listingId !== undefined) t.is(f.listingId, f.internalId, `${f.path}: listing and FileInternalInformation agree`);
  return new Map(files.filter((f) => f.path !== '').map((f) => [f.path, f.internalId]));
}

async function stableId(path: string): Promise<bigint> {
  const out = await check(join(REPO, 'bin', 'stableid'), ['id', w.src, path]);
  return BigInt(out.trim());
}

serial(`both images build with podman, keep their health checks, and node-gyp downloads nothing${why}`, async (t) => {
  for (const [image, arg] of [[w.built.sidecar, '--shared'], [w.built.samba, '--smb-port']]) {
    const hc = (await podman(['image', 'inspect', image, '--format', '{{json .Config.Healthcheck}}'])).stdout;
    t.true(hc.includes('/usr/local/bin/stableid-healthcheck') && hc.includes(arg), `${image}: HEALTHCHECK kept (${hc.trim()})`);
  }
  if (w.built.sidecarLog) t.notRegex(w.built.sidecarLog, /nodejs\.org|gyp http GET/, 'node-gyp used the image\'s own headers');
  const node = await podman(['run', '--rm', '--entrypoint', 'node', w.built.sidecar, '--version']);
  t.regex(node.stdout, /^v20\./, 'the runtime image runs Node 20');
});

serial(`the mount reaches the host and the Samba container, and SMB is published on loopback${why}`, async (t) => {
  const mounts = await hostMounts();
  t.deepEqual(mounts.map((m) => m.fstype), ['fuse.stableid'], 'one stableid mount at STABLEID_DIR/stable on the host');
  t.true(await hostAnswers());
  const ls = await w.stack.exec('samba', ['ls', '/shared/stable']);
  t.deepEqual(ls.stdout.split('\n').filter(Boolean).sort(), ['ext4', 'top.txt', 'xfs'], ls.stderr);
  const port = await podman(['port', w.stack.container('samba')]);
  t.is(port.stdout.trim(), `445/tcp -> 127.0.0.1:${w.stack.o.smbPort}`, 'published on 127.0.0.1 only');
});

serial(`a non-root SMB user sees FileIds equal to stableid id on ext4 and xfs${why}`, async (t) => {
  const add = await w.stack.exec('samba', ['samba-adduser', '-s', USER, String(UID)], `${PASSWORD}\n${PASSWORD}\n`);
  t.is(add.code, 0, add.stderr);
  const files = await fileIdsAs(USER, PASSWORD, ['xfs/made-over-smb.txt']);
  ids = byPath(t, files);
  for (const p of ['top.txt', 'ext4/same-ino.txt', 'xfs/same-ino.txt', 'ext4/sub/deep.txt', 'xfs/made-over-smb.txt']) t.true(ids.has(p), `${p} listed over SMB`);
  for (const [path, fileId] of ids) {
    t.is(fileId, await stableId(path), `${path}: SMB FileId = stableid id`);
    const ino = await check('stat', ['-c', '%i', join(mnt(), path)], { timeoutMs: 10_000 });
    t.is(BigInt(ino.trim()), fileId, `${path}: = st_ino on the host's view of the mount`);
  }
  t.not(ids.get('ext4/same-ino.txt'), ids.get('xfs/same-ino.txt'), 'equal inode numbers on two disks, two FileIds');
  const st = await check('stat', ['-c', '%u %i', join(mnt(), 'xfs', 'made-over-smb.txt')], { timeoutMs: 10_000 });
  t.is(st.trim(), `${UID} ${ids.get('xfs/made-over-smb.txt')}`, 'made by the user, with its stable id as st_ino on the host');
});

serial(`Samba users survive recreating the Samba container${why}`, async (t) => {
  const rm = await podman(['rm', '-f', '-t', '10', w.stack.container('samba')]);
  t.is(rm.code, 0, rm.stderr);
  await w.stack.up(); // makes the Samba container anew; the sidecar keeps running
  await w.stack.waitHealth('samba', true);
  t.deepEqual(byPath(t, await fileIdsAs(USER, PASSWORD)), ids);
});

serial(`podman kill -s KILL of the sidecar, then start: the mount is back, ids unchanged, nothing dead left${why}`, async (t) => {
  const before = await hostMounts();
  const kill = await podman(['kill', '-s', 'KILL', w.stack.container('stableid')]);
  t.is(kill.code, 0, kill.stderr);
  const reason = await w.stack.waitHealth('samba', false);
  t.regex(reason, /does not answer stat|not mounted/, 'Samba reports the dead mount');
  await t.throwsAsync(fileIdsAs(USER, PASSWORD), undefined, 'Samba refuses the share while the mount is dead (root preexec)');
  const start = await podman(['start', w.stack.container('stableid')]);
  t.is(start.code, 0, start.stderr);
  await w.stack.waitHealth('stableid', true);
  await w.stack.waitHealth('samba', true);
  const after = await hostMounts();
  t.deepEqual(after.map((m) => m.fstype), ['fuse.stableid'], 'one mount on the host: the dead one was detached, not buried');
  t.true(await hostAnswers());
  t.is(before.length, 1);
  t.deepEqual(byPath(t, await fileIdsAs(USER, PASSWORD)), ids, 'the same FileIds after the restart');
});

serial(`stop with a client holding a file open exits 0 and unmounts everywhere${why}`, async (t) => {
  const client = holdOpen(join(mnt(), 'ext4', 'sub', 'deep.txt'));
  t.teardown(client.stop);
  await client.ready;
  const t0 = Date.now();
  const stop = await podman(['stop', '-t', '30', w.stack.container('stableid')], { timeoutMs: 60_000 });
  t.is(stop.code, 0, stop.stderr);
  t.log(`podman stop with a file held open: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const state = await w.stack.state('stableid');
  t.deepEqual(state, { status: 'exited', exitCode: 0 });
  const logs = await podman(['logs', '--tail', '5', w.stack.container('stableid')]);
  t.regex(logs.stdout + logs.stderr, /stopped \(status 0\)/);
  t.deepEqual(await hostMounts(), [], 'nothing left mounted on the host');
  t.regex(await w.stack.waitHealth('samba', false), /not mounted/);
  const start = await podman(['start', w.stack.container('stableid')]);
  t.is(start.code, 0, start.stderr);
  await w.stack.waitHealth('samba', true);
});

serial(`health is unhealthy when the mount does not reach the host${why}`, async (t) => {
  // (1) The sidecar with its directory bound without rshared: the mount stays inside it.
  const priv = join(w.base, 'private-bind');
  await mkdir(priv);
  const name = `docker-${process.pid}-unshared`;
  t.teardown(async () => {
    await podman(['rm', '-f', '-t', '10', name]);
    await umount(join(priv, 'stable'));
  });
  const run = await podman(['run', '-d', '--name', name, '--device', '/dev/fuse', '--cap-add', 'SYS_ADMIN', '-v', `${w.src}:/data:rslave`, '-v', `${priv}:/shared`, w.built.sidecar]);
  t.is(run.code, 0, run.stderr);
  // Unhealthy from the start ("not mounted"); once the mount is made, for the right reason.
  let reason = '';
  for (const deadline = Date.now() + 60_000; !/not a shared mount/.test(reason) && Date.now() < deadline; await sleep(500))
    reason = (await healthOf(name)).reason;
  t.regex(reason, /not a shared mount/);
  t.false((await readMountinfo()).some((m) => m.mountPoint === join(priv, 'stable')), 'and indeed nothing reached the host');

  // (2) A stack whose STABLEID_DIR is not on a shared mount: under podman the
  // sidecar cannot tell (its copy of the bind is shared), the Samba container can.
  const lone = join(w.base, 'not-shared');
  await mkdir(lone);
  const stack = new ComposeStack({ ...w.stack.o, project: `docker-${process.pid}-lone`, dir: lone, smbPort: await freePort() });
  t.teardown(async () => {
    await stack.down();
    await umount(join(lone, 'stable'));
  });
  await stack.up();
  t.regex(await stack.waitHealth('samba', false), /not mounted/, 'Samba sees no mount and says so');
  t.false((await readMountinfo()).some((m) => m.mountPoint === join(lone, 'stable')), 'nothing on the host');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
