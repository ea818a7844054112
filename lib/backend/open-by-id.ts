// Open a file from its stable id alone: the way back for NFS file handles
// (the kernel's FUSE LOOKUP(id, ".") and LOOKUP(id, "..") for ids not seen
// since a restart; docs/nfs.md).
//
//   id -> IdReverser (lib/mapper/reverse.ts): device, its st_dev now, the
//         mount through which the export reaches it, ino
//      -> a handle built for that filesystem type (lib/sys/handle-formats.ts)
//      -> open_by_handle_at(O_PATH) on the device's mount
//      -> checks: st_dev/ino as expected; the generation, when the caller
//         has one; under the export root; and the mapper gives this file
//         exactly `id` -> { fd, dev, ino, mode, generation }
//
// Every failure is FsError('ESTALE'): an unknown prefix, a device not mounted
// now, a deleted file, an inode number now used by another file (generation),
// a filesystem that cannot open by inode number (said once in the log).
// Never another file.
//
// Containment: a directory is walked up through ".." until the export root
// (ESTALE if it is not under it). A non-directory has no way up (its handle
// names no parent), so on a filesystem that is only partly under the export
// (the export root is a subdirectory of its filesystem) it is accepted on its
// generation, as knfsd's default no_subtree_check does: a client that did
// not get the handle from us must guess a random 32-bit generation (the FUSE
// kernel compares the generation of our answer with its handle's).
//
// Needs CAP_DAC_READ_SEARCH (open_by_handle_at) and, on xfs without a
// generation, CAP_SYS_ADMIN (bulkstat). Descriptors returned are the caller's.
import { close as closeCb, fstat as fstatCb, open as openCb, type BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { promisify } from 'node:util';
import { FsError, isCode } from '../errno.js';
import type { IdMapper } from '../mapper/mapper.js';
import { type IdPlace, IdReverser, type ReverseSource } from '../mapper/reverse.js';
import { formatFor, type HandleFormat } from '../sys/handle-formats.js';
import { AT_EMPTY_PATH, fsType, nameToHandle, O_PATH, openBeneath, openByHandle, xfsGeneration } from '../sys/handles.js';

const openFd = promisify(openCb) as (path: string, flags: number) => Promise<number>;
const closeFd = promisify(closeCb);
const fstatBig = (fd: number) => new Promise<BigIntStats>((res, rej) => fstatCb(fd, { bigint: true }, (e, st) => (e ? rej(e) : res(st))));

/** Deeper than any real tree: a loop guard for the walk up. */
const MAX_DEPTH = 4096;

export interface OpenedById {
  /** O_PATH descriptor; the caller closes it. */
  fd: number;
  dev: bigint;
  ino: bigint;
  mode: number;
  /** The file's own generation (FUSE entries carry it), or 0 where the filesystem has none to tell. */
  generation: number;
  /** How it is known to be under the export root. */
  contained: 'whole-filesystem' | 'walked' | 'generation';
}

export interface IdOpenerOptions {
  mapper: ReverseSource & Pick<IdMapper, 'knownId' | 'idFor'>;
  /** Operator-facing messages (a filesystem that cannot open by inode number, once per filesystem). */
  log?: (msg: string) => void;
}

export class IdOpener {
  private readonly reverser: IdReverser;
  private readonly mapper: IdOpenerOptions['mapper'];
  private readonly log: (msg: string) => void;
  private readonly said = new Set<string>();
  private rootFd: Promise<number> | undefined;
  private rootIno: bigint | undefined;
  /** st_dev -> its handle format (undefined: cannot open by inode number). */
  private readonly formats = new Map<bigint, HandleFormat | undefined>();

  constructor(o: IdOpenerOptions) {
    this.mapper = o.mapper;
    this.reverser = new IdReverser(o.mapper);
    this.log = o.log ?? (() => {});
  }

  /** Open the file whose stable id is `id`; with `generation`, only if it is still that file. */
  async open(id: bigint, generation?: number): Promise<OpenedById> {
    const place = await this.reverser.place(id);
    if ('reason' in place) throw stale(id, place.reason);
    const root = await this.root();
    const mountFd = place.mountRel === '' ? root : await this.openMount(id, place, root);
    let fd: number | undefined;
    try {
      const format = await this.formatOf(place.dev, mountFd, place.fstype);
      if (!format) throw stale(id, `${place.fstype} cannot be opened by inode number`);
      const gen = generation ?? (await this.generationFor(id, format, mountFd, place));
      const h = format.build(place.ino, gen, place.subvolume);
      if (!h) throw stale(id, `inode ${place.ino} cannot be written as a ${format.fs} handle${format.fs === 'btrfs' ? ' (subvolume not known)' : ''}`);
      fd = await openByHandle(mountFd, h.type, h.handle, O_PATH).catch((err: unknown) => {
        throw isCode(err, 'ESTALE', 'ENOENT', 'EINVAL') ? stale(id, `no file ${place.ino} with generation ${gen} on ${place.identity}`) : err;
      });
      const st = await fstatBig(fd);
      if (st.dev !== place.dev || st.ino !== place.ino) throw stale(id, `the handle opened ${st.dev}:${st.ino}, not ${place.dev}:${place.ino}`);
      const own = (await this.generationOf(fd, st.dev)) ?? 0;
      if (generation !== undefined && own !== generation) throw stale(id, `inode ${place.ino} now has generation ${own}, not ${generation} (a new file)`);
      const contained = place.whole ? 'whole-filesystem' : (Number(st.mode) & constants.S_IFMT) === constants.S_IFDIR ? await this.walkUp(id, fd) : 'generation';
      const got = this.mapper.knownId(st.dev, st.ino) ?? (await this.mapper.idFor(st.dev, st.ino));
      if (got !== id) throw stale(id, `the file found has id ${got}`);
      const out: OpenedById = { fd, dev: st.dev, ino: st.ino, mode: Number(st.mode), generation: own, contained };
      fd = undefined;
      return out;
    } finally {
      if (fd !== undefined) await closeFd(fd);
      if (mountFd !== root) await closeFd(mountFd);
    }
  }

  /** LOOKUP(dir, ".."): the parent of an open directory; the export root is its own parent. */
  async parent(dirFd: number): Promise<OpenedById> {
    const st = await fstatBig(dirFd);
    await this.root();
    const up = st.dev === this.mapper.rootDev && st.ino === this.rootIno ? await this.root() : undefined;
    const fd = await openFd(up !== undefined ? `/proc/self/fd/${up}` : `/proc/self/fd/${dirFd}/..`, O_PATH | constants.O_DIRECTORY);
    try {
      const p = await fstatBig(fd);
      return { fd, dev: p.dev, ino: p.ino, mode: Number(p.mode), generation: (await this.generationOf(fd, p.dev)) ?? 0, contained: 'walked' };
    } catch (err) {
      await closeFd(fd);
      throw err;
    }
  }

  /**
   * The generation of an open file (any descriptor, O_PATH too), read from its
   * kernel handle: one name_to_handle_at, no open, and it works on tmpfs,
   * which has no FS_IOC_GETVERSION. Undefined where the format is unknown.
   */
  async generationOf(fd: number, dev: bigint): Promise<number | undefined> {
    const format = this.formats.has(dev) ? this.formats.get(dev) : await this.formatOf(dev, fd, '');
    if (!format) return undefined;
    return format.generation(await nameToHandle(fd, '', AT_EMPTY_PATH));
  }

  async close(): Promise<void> {
    const fd = await this.rootFd?.catch(() => undefined);
    this.rootFd = undefined;
    if (fd !== undefined) await closeFd(fd);
  }

  /** The export root, opened for real: open_by_handle_at refuses an O_PATH mount descriptor (EBADF). */
  private root(): Promise<number> {
    this.rootFd ??= openFd(this.mapper.root, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).then(async (fd) => {
      this.rootIno = (await fstatBig(fd)).ino;
      return fd;
    });
    return this.rootFd;
  }

  /** The device's mount point under the export, opened without following symlinks, and checked to be that device. */
  private async openMount(id: bigint, place: IdPlace, root: number): Promise<number> {
    const fd = await openBeneath(root, place.mountRel, constants.O_RDONLY | constants.O_DIRECTORY).catch((err: Error) => {
      throw stale(id, `cannot open its mount ${place.mountRel}: ${err.message}`);
    });
    const st = await fstatBig(fd);
    if (st.dev !== place.dev) {
      await closeFd(fd);
      throw stale(id, `${place.mountRel} is st_dev ${st.dev} now, not ${place.dev}`);
    }
    return fd;
  }

  private async formatOf(dev: bigint, fd: number, fstype: string): Promise<HandleFormat | undefined> {
    if (this.formats.has(dev)) return this.formats.get(dev);
    const magic = await fsType(fd);
    const format = formatFor(magic);
    // A device number, once seen, keeps its filesystem until unmounted; a
    // new filesystem at a reused number is re-read when its mount changes.
    if (format || fstype) this.formats.set(dev, format);
    if (!format) this.once(`fs:${magic}`, `files on ${fstype || `filesystem type 0x${magic.toString(16)}`} cannot be opened by inode number: NFS handles of them give ESTALE after a restart`);
    return format;
  }

  /** The generation to build a handle with when the caller has none: 0 where the kernel does not check it. */
  private async generationFor(id: bigint, format: HandleFormat, mountFd: number, place: IdPlace): Promise<number> {
    if (!format.generationRequired) return 0;
    if (format.fs === 'xfs') {
      const gen = await xfsGeneration(mountFd, place.ino);
      if (gen === undefined) throw stale(id, `no inode ${place.ino} on ${place.identity}`);
      return gen;
    }
    this.once(`gen:${format.fs}`, `files on ${format.fs} cannot be opened by inode number alone (its handles need the generation): NFS handles of them give ESTALE after a restart`);
    throw stale(id, `${format.fs} needs the generation`);
  }

  /** Up through ".." to the export root; ESTALE when the top is reached first. Closes nothing it was given. */
  private async walkUp(id: bigint, fd: number): Promise<'walked'> {
    await this.root();
    let cur = fd;
    let st = await fstatBig(cur);
    try {
      for (let depth = 0; depth < MAX_DEPTH; depth++) {
        if (st.dev === this.mapper.rootDev && st.ino === this.rootIno) return 'walked';
        const up = await openFd(`/proc/self/fd/${cur}/..`, O_PATH | constants.O_DIRECTORY);
        const upSt = await fstatBig(up);
        if (cur !== fd) await closeFd(cur);
        cur = up;
        if (upSt.dev === st.dev && upSt.ino === st.ino) break; // the top of the tree: not under the export
        st = upSt;
      }
    } finally {
      if (cur !== fd) await closeFd(cur);
    }
    throw stale(id, 'the directory is not under the export root');
  }

  private once(key: string, msg: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.log(msg);
  }
}

function stale(id: bigint, why: string): FsError {
  return new FsError('ESTALE', `id ${id}: ${why}`);
}
