// Samba on top of stableid, end to end with real parts: ext4 and xfs loop
// images under SRC with a file of equal inode number on each, stableid-mount
// (the CLI, persistent table), a real smbd sharing the mountpoint with the
// `stableid smb-conf` section, and impacket reading every FileId over SMB2.
// In the same smbd, shares of the raw SRC and of a bindfs mount of it show
// what the stable share fixes.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { smbConfSnippet } from '../../lib/cli/commands/smb-conf.js';
import { runMain } from '../../lib/cli/main.js';
import { mountAt } from '../../lib/fuse/mountinfo.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { canMount, mountFixture, REPO } from '../helpers/mount-fixture.js';
import { canRunSmbd, type ShareSpec, type SmbFileId, startSmbd } from '../helpers/smbd.js';

const run = promisify(execFile);

const gate = await (async (): Promise<string> => {
  for (const g of [await canRunSmbd(), await canMount('fuse'), await canLoop(['ext4', 'xfs'])])
    if (!g.ok) return (g as { reason: string }).reason;
  if (!(await run('bindfs', ['--version']).then(() => true, () => false))) return 'no bindfs (apt-get install bindfs)';
  return '';
})();

type Ids = Map<string, bigint>;

/** FileIds by path, after checking that the listing and the opened file agree. */
function byPath(t: ExecutionContext, share: string, files: SmbFileId[]): Ids {
  for (const f of files)
    if (f.listingId !== undefined) t.is(f.listingId, f.internalId, `[${share}] ${f.path}: listing and FileInternalInformation agree`);
  return new Map(files.map((f) => [f.path, f.internalId]));
}

/** Entries in path order, so two maps compare by content alone. */
function sorted(ids: Ids): [string, bigint][] {
  return [...ids].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}

/** st_ino of every path under dir, read by find(1) in a child process (never by touching a FUSE mount from here). */
async function inodes(dir: string): Promise<Ids> {
  const { stdout } = await run('find', [dir, '-printf', '%P\\t%i\\n'], { timeout: 60_000, maxBuffer: 16 << 20 });
  return new Map(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [p, ino] = l.split('\t');
        return [p, BigInt(ino)] as [string, bigint];
      }),
  );
}

function share(name: string, path: string): ShareSpec {
  return { name, section: `[${name}]\n  path = ${path}\n  read only = no\n` };
}

(gate ? test.serial.skip : test.serial)(
  `Samba FileIds on a stableid mount are the stable ids, through restarts and swapped disks; raw and bindfs shares fail${gate ? ` (skipped: ${gate})` : ''}`,
  async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'stableid-samba-'));
    t.teardown(() => rm(base, { recursive: true, force: true }));
    const src = join(base, 'src');
    await mkdir(join(src, 'docs'), { recursive: true });
    await writeFile(join(src, 'top.txt'), 'on the root filesystem\n');
    await writeFile(join(src, 'docs', 'note.txt'), 'also on the root filesystem\n');
    const imgs = await loopImages(t, src, ['ext4', 'xfs']);
    const a = imgs.collidingFiles.ext4.slice(src.length + 1);
    const b = imgs.collidingFiles.xfs.slice(src.length + 1);

    const fx = await mountFixture(t, 'fuse', { src, server: 'cli' });
    const bindMnt = join(base, 'bindfs');
    await mkdir(bindMnt);
    const bindfs = {
      mounted: false,
      async mount() {
        await run('bindfs', [src, bindMnt], { timeout: 30_000 });
        this.mounted = true;
      },
      async unmount() {
        if (this.mounted) await run('fusermount3', ['-u', bindMnt], { timeout: 30_000 });
        this.mounted = false;
      },
    };
    t.teardown(async () => {
      if (bindfs.mounted) await run('umount', ['-l', bindMnt]).catch(() => undefined);
    });
    await bindfs.mount();

    // The share section as the CLI prints it for this live mount (no warning: it is a stableid mount).
    let stableSection = '';
    let cliErr = '';
    const code = await runMain(['smb-conf', fx.mnt, '--share', 'stable'], {
      io: { out: (x) => void (stableSection += x), err: (x) => void (cliErr += x) },
    });
    t.is(code, 0);
    t.is(cliErr, '', 'smb-conf recognises the stableid mount');
    t.is(stableSection, smbConfSnippet({ path: fx.mnt, share: 'stable' }));
    const smbd = await startSmbd(t, [{ name: 'stable', section: stableSection }, share('raw', src), share('bind', bindMnt)]);

    // 1. The stable share: FileId = the id stableid gives (st_ino on the mount), for every file.
    const stable1 = byPath(t, 'stable', await smbd.fileIds('stable'));
    const onMount = await inodes(fx.mnt);
    t.deepEqual([...stable1.keys()].sort(), [...onMount.keys()].sort(), 'the share lists what the mount holds');
    for (const [p, id] of stable1) t.is(onMount.get(p), id, `FileId of "${p}" is its stable id`);
    t.is(new Set(stable1.values()).size, stable1.size, 'no two files share a FileId');
    const rawIno = await inodes(src);
    t.is(rawIno.get(a), imgs.collidingIno, `${a} has st_ino ${imgs.collidingIno} on its disk`);
    t.is(rawIno.get(b), imgs.collidingIno, `${b} has the same st_ino on the other disk`);
    t.not(stable1.get(a), stable1.get(b), `${a} and ${b} get two FileIds`);
    t.is(stable1.get('top.txt'), rawIno.get('top.txt'), 'a file on the root filesystem keeps its inode number as id');

    // Files a client creates over SMB (smbd writes their DOS attributes itself) get their stable id too.
    const made = ['made-over-smb.txt', 'ext4/made-over-smb.txt', 'xfs/made-over-smb.txt'];
    const withNew = byPath(t, 'stable', await smbd.fileIds('stable', made));
    const onMountNow = await inodes(fx.mnt);
    for (const p of made) {
      t.truthy(withNew.get(p), `${p} was created over SMB`);
      t.is(onMountNow.get(p), withNew.get(p), `FileId of ${p}, created over SMB, is its stable id`);
    }
    for (const [p, id] of stable1) t.is(withNew.get(p), id, `${p} kept its FileId`);
    for (const p of made) stable1.set(p, withNew.get(p)!);

    // The same ids from the table itself (`stableid id`, read-only while the mount holds the export).
    for (const p of [a, b, 'top.txt']) {
      const { stdout } = await run(process.execPath, [join(REPO, 'bin', 'stableid'), 'id', src, p, '--json'], { timeout: 30_000 });
      t.is(stable1.get(p), BigInt((JSON.parse(stdout) as { id: string }).id), `stableid id ${p} = its SMB FileId`);
    }

    // 2. The bindfs share collides on exactly those two files.
    const bind1 = byPath(t, 'bind', await smbd.fileIds('bind'));
    t.is(bind1.get(a), bind1.get(b), `bindfs share: ${a} and ${b} share FileId ${bind1.get(a)}`);
    const raw1 = byPath(t, 'raw', await smbd.fileIds('raw'));

    // 3. Restart everything: smbd stopped, stableid unmounted and mounted again, smbd started.
    const mount1 = await mountAt(fx.mnt);
    await smbd.stop();
    const stopped = await fx.server.stop();
    t.is(stopped.code, 0, 'stableid-mount exits 0 on SIGTERM');
    await fx.remount();
    const mount2 = await mountAt(fx.mnt);
    // A FUSE mount's st_dev is handed out at mount time (it may or may not come back
    // equal); vfs_fileid's fsname algorithm hashes the filesystem name instead.
    t.truthy(mount1?.source);
    t.is(mount2?.source, mount1?.source, 'the same filesystem name on every mount, for fileid:algorithm = fsname');
    await smbd.start();
    t.deepEqual(sorted(byPath(t, 'stable', await smbd.fileIds('stable'))), sorted(stable1), 'same FileIds after unmount, mount and smbd restart');

    // 4. The disks come back in the other order, each at the device number the other had.
    await smbd.stop();
    await fx.server.stop();
    await bindfs.unmount();
    const devsBefore = { ...imgs.devices };
    await imgs.reattachReversed();
    t.is(imgs.devices.ext4, devsBefore.xfs, 'the disks swapped loop devices');
    await fx.remount();
    await bindfs.mount();
    await smbd.start();
    t.deepEqual(sorted(byPath(t, 'stable', await smbd.fileIds('stable'))), sorted(stable1), 'same FileIds after the disks swapped');
    const raw2 = byPath(t, 'raw', await smbd.fileIds('raw'));
    t.is(raw2.get('top.txt'), raw1.get('top.txt'));
    t.is(raw2.get(a), raw1.get(b), `raw share: ${a} now has the FileId ${b} had`);
    t.is(raw2.get(b), raw1.get(a), `raw share: ${b} now has the FileId ${a} had`);
    t.log(`stable: ${a}=${stable1.get(a)} ${b}=${stable1.get(b)} (unchanged through restart and swap)`);
    t.log(`raw:    ${a} ${raw1.get(a)} -> ${raw2.get(a)}, ${b} ${raw1.get(b)} -> ${raw2.get(b)}`);
    t.log(`bindfs: ${a} and ${b} both ${bind1.get(a)}`);
  },
);
