// One POSIX suite for every mount kind (as go-fuse's posixtest and libfuse's
// passthrough tests): each scenario runs in a CHILD process against a
// directory and returns what it observed (contents, sizes, modes, error
// codes, relations between inode numbers; never absolute values that differ
// between two directories). A test runs the same scenario on a raw directory
// and on the mount and compares the two observations.
//
//   node dist/test/integration/conformance.js SCENARIO DIR   -> one JSON line
import { execFile } from 'node:child_process';
import { constants as C } from 'node:fs';
import { appendFile, chmod, chown, link, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, rmdir, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as xattr from 'fs-xattr';
import { REPO } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const exec = promisify(execFile);

export interface Capabilities {
  xattr: boolean;
  hardlinks: boolean;
  /** Device nodes and chown to other users (root on both sides). */
  root: boolean;
}

type Scenario = (dir: string) => Promise<unknown>;

/** The error code a call fails with, or 'ok'. */
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

async function kind(path: string): Promise<string> {
  try {
    const s = await lstat(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'link' : s.isFIFO() ? 'fifo' : s.isCharacterDevice() ? 'chr' : s.isSocket() ? 'sock' : 'other';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
}

export const posix: Record<string, Scenario> = {
  async fileBasic(d) {
    const f = join(d, 'f');
    await writeFile(f, 'hello world');
    const h = await open(f, 'r+');
    await h.write('XY', 2);
    await h.close();
    const afterWrite = await readFile(f, 'utf8');
    await appendFile(f, '!');
    const st = await stat(f);
    await unlink(f);
    return { afterWrite, size: st.size, type: st.isFile(), gone: await code(stat(f)), exclusive: await code(writeFile(join(d, 'g'), '').then(() => open(join(d, 'g'), 'wx'))) };
  },

  async dirs(d) {
    await mkdir(join(d, 'a/b/c'), { recursive: true });
    await writeFile(join(d, 'a/b/c/f'), 'x');
    await writeFile(join(d, 'a/b/g'), 'y');
    return {
      listing: (await readdir(join(d, 'a/b'))).sort(),
      withTypes: (await readdir(join(d, 'a/b'), { withFileTypes: true })).map((e) => `${e.name}:${e.isDirectory()}`).sort(),
      rmdirNonEmpty: await code(rmdir(join(d, 'a'))),
      mkdirExisting: await code(mkdir(join(d, 'a'))),
      rmdirFile: await code(rmdir(join(d, 'a/b/g'))),
      unlinkDir: await code(unlink(join(d, 'a/b'))),
      mkdirNoParent: await code(mkdir(join(d, 'x/y'))),
      nlink: (await stat(join(d, 'a/b'))).nlink,
      removed: await code(rm(join(d, 'a'), { recursive: true })),
      after: await readdir(d),
    };
  },

  async symlinks(d) {
    await writeFile(join(d, 'f'), 'target data');
    await symlink('f', join(d, 'l'));
    await symlink('missing', join(d, 'dangling'));
    await symlink('/abs/path/x', join(d, 'abs'));
    return {
      readlink: await readlink(join(d, 'l')),
      abs: await readlink(join(d, 'abs')),
      lkind: await kind(join(d, 'l')),
      follows: (await stat(join(d, 'l'))).size,
      dangling: await code(stat(join(d, 'dangling'))),
      nofollow: await code(open(join(d, 'l'), C.O_RDONLY | C.O_NOFOLLOW)),
      lsize: (await lstat(join(d, 'l'))).size,
      readlinkFile: await code(readlink(join(d, 'f'))),
    };
  },

  async hardlinks(d) {
    await writeFile(join(d, 'f'), 'shared');
    await link(join(d, 'f'), join(d, 'g'));
    const [f, g] = await Promise.all([stat(join(d, 'f')), stat(join(d, 'g'))]);
    await unlink(join(d, 'f'));
    const g2 = await stat(join(d, 'g'));
    return { sameIno: f.ino === g.ino, nlink: [f.nlink, g.nlink, g2.nlink], inoKept: g2.ino === g.ino, content: await readFile(join(d, 'g'), 'utf8'), linkDir: await code(link(d, join(d, 'dirlink'))) };
  },

  async renames(d) {
    await writeFile(join(d, 'a'), 'A');
    await writeFile(join(d, 'b'), 'B');
    const inoA = (await stat(join(d, 'a'))).ino;
    await rename(join(d, 'a'), join(d, 'b'));
    const b = await stat(join(d, 'b'));
    await mkdir(join(d, 'd1'));
    await writeFile(join(d, 'd1/inner'), 'i');
    await mkdir(join(d, 'd2'));
    await mkdir(join(d, 'full'));
    await writeFile(join(d, 'full/x'), '');
    const d1 = (await stat(join(d, 'd1'))).ino;
    return {
      overFile: await readFile(join(d, 'b'), 'utf8'),
      inoFollows: b.ino === inoA,
      oldGone: await code(stat(join(d, 'a'))),
      dirOverEmptyDir: await code(rename(join(d, 'd1'), join(d, 'd2'))),
      movedInner: await readFile(join(d, 'd2/inner'), 'utf8'),
      dirInoFollows: (await stat(join(d, 'd2'))).ino === d1,
      fileOverDir: await code(rename(join(d, 'b'), join(d, 'd2'))),
      dirOverFull: await code(rename(join(d, 'd2'), join(d, 'full'))),
      dirOverFile: await code(rename(join(d, 'd2'), join(d, 'b'))),
      intoItself: await code(rename(join(d, 'd2'), join(d, 'd2/sub'))),
      across: await code(rename(join(d, 'd2/inner'), join(d, 'full/inner2'))),
      listing: (await readdir(d)).sort(),
      full: (await readdir(join(d, 'full'))).sort(),
    };
  },

  async truncation(d) {
    const f = join(d, 'f');
    await writeFile(f, '0123456789');
    await truncate(f, 4);
    const shrunk = await readFile(f, 'utf8');
    await truncate(f, 100);
    const grown = await readFile(f);
    const h = await open(f, 'r+');
    await h.truncate(2);
    const viaHandle = (await h.stat()).size;
    await h.close();
    const t = await open(f, 'w'); // O_TRUNC
    await t.close();
    return { shrunk, grownSize: grown.length, zeros: grown.subarray(4).every((b) => b === 0), viaHandle, otrunc: (await stat(f)).size };
  },

  async sparse(d) {
    const f = join(d, 'f');
    const h = await open(f, 'w');
    await h.write('x', 2 ** 30);
    await h.write('y', 2 ** 40);
    await h.close();
    const r = await open(f, 'r');
    const buf = Buffer.alloc(8);
    await r.read(buf, 0, 8, 1000);
    const tail = Buffer.alloc(4);
    const { bytesRead } = await r.read(tail, 0, 4, 2 ** 40);
    await r.close();
    const st = await stat(f);
    return { size: st.size, hole: buf.every((b) => b === 0), tail: tail.subarray(0, bytesRead).toString(), small: st.blocks * 512 < 1024 * 1024 };
  },

  async append(d) {
    const f = join(d, 'f');
    await writeFile(f, 'start-');
    const h = await open(f, 'a');
    await h.write('one', 0);
    await h.write('two');
    await h.close();
    const s = await open(f, 'a+');
    const buf = Buffer.alloc(6);
    await s.read(buf, 0, 6, 0);
    await s.write('three');
    await s.close();
    return { content: await readFile(f, 'utf8'), readBack: buf.toString() };
  },

  async attributes(d) {
    const f = join(d, 'f');
    await writeFile(f, 'x');
    await chmod(f, 0o640);
    const m1 = (await stat(f)).mode;
    await chmod(f, 0o4755);
    const m2 = (await stat(f)).mode;
    await chown(f, 1234, 5678);
    const s = await stat(f);
    await exec('touch', ['-m', '-d', '2001-02-03 04:05:06.123456789 UTC', f]);
    await exec('touch', ['-a', '-d', '1999-01-01 00:00:00.000000001 UTC', f]);
    const t = await stat(f, { bigint: true });
    await symlink('f', join(d, 'l'));
    await exec('touch', ['-h', '-m', '-d', '1990-05-05 05:05:05.5 UTC', join(d, 'l')]);
    const l = await lstat(join(d, 'l'), { bigint: true });
    const after = await stat(f, { bigint: true });
    await exec('touch', ['-d', '1960-01-01 00:00:00.25 UTC', f]);
    const old = await stat(f, { bigint: true });
    return {
      modes: [m1.toString(8), m2.toString(8)],
      owner: [s.uid, s.gid],
      mtimeNs: t.mtimeNs.toString(),
      atimeNs: t.atimeNs.toString(),
      linkMtime: l.mtimeNs.toString(),
      targetUntouched: after.mtimeNs === t.mtimeNs,
      before1970: old.mtimeNs.toString(),
    };
  },

  async xattrs(d) {
    const f = join(d, 'f');
    await writeFile(f, 'x');
    await xattr.setAttribute(f, 'user.a', Buffer.from('1'));
    await xattr.setAttribute(f, 'user.b', Buffer.from('two'));
    await xattr.setAttribute(f, 'user.empty', Buffer.alloc(0));
    await xattr.setAttribute(f, 'user.big', Buffer.alloc(3000, 7));
    const list = (await xattr.listAttributes(f)).filter((n) => n.startsWith('user.')).sort();
    const got = (await xattr.getAttribute(f, 'user.b')).toString();
    const big = (await xattr.getAttribute(f, 'user.big')).length;
    await xattr.removeAttribute(f, 'user.a');
    const dirList = (await xattr.listAttributes(d)).filter((n) => n.startsWith('user.'));
    const { stdout } = await exec('getfattr', ['--absolute-names', '-d', '-m', '-', join(d, '..')]).catch(() => ({ stdout: '' }));
    return {
      list,
      got,
      big,
      empty: (await xattr.getAttribute(f, 'user.empty')).length,
      removed: await code(xattr.getAttribute(f, 'user.a')),
      removeMissing: await code(xattr.removeAttribute(f, 'user.nope')),
      after: (await xattr.listAttributes(f)).filter((n) => n.startsWith('user.')).sort(),
      dirList,
      // The export root's own xattrs: the id table's names must not show.
      rootUserXattrs: stdout.split('\n').filter((l) => l.startsWith('user.')),
    };
  },

  async statfs(d) {
    const { stdout } = await exec('stat', ['-f', '-c', '%S %b %l', d]);
    const [bsize, blocks, namelen] = stdout.trim().split(' ').map(Number);
    return { bsize, blocks, namelen };
  },

  async readdir10k(d) {
    const names = Array.from({ length: 10_000 }, (_, i) => `file-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < names.length; i += 200) await Promise.all(names.slice(i, i + 200).map((n) => writeFile(join(d, n), '')));
    const listed = await readdir(d);
    const ls = await run('sh', ['-c', `ls -1f "${d}" | wc -l`], { timeoutMs: 60_000 });
    const inos = new Set((await Promise.all(names.slice(0, 500).map((n) => stat(join(d, n))))).map((s) => s.ino));
    return { count: listed.length, sortedEqual: JSON.stringify(listed.sort()) === JSON.stringify(names), lsCount: Number(ls.stdout.trim()), distinctIno: inos.size };
  },

  async errors(d) {
    await mkdir(join(d, 'dir'));
    await writeFile(join(d, 'file'), '');
    return {
      missing: await code(open(join(d, 'nope'), 'r')),
      longName: await code(writeFile(join(d, 'n'.repeat(256)), '')),
      maxName: await code(writeFile(join(d, 'n'.repeat(255)), '')),
      dirForWrite: await code(open(join(d, 'dir'), 'w')),
      notDir: await code(readdir(join(d, 'file'))),
      throughFile: await code(stat(join(d, 'file/x'))),
      excl: await code(open(join(d, 'file'), 'wx')),
    };
  },

  async specialFiles(d) {
    await exec('mkfifo', [join(d, 'fifo')]);
    await exec('mknod', [join(d, 'null'), 'c', '1', '3']);
    const n = await stat(join(d, 'null'), { bigint: true });
    return { fifo: await kind(join(d, 'fifo')), chr: await kind(join(d, 'null')), rdev: n.rdev.toString() };
  },

  async fsyncs(d) {
    const h = await open(join(d, 'f'), 'w');
    await h.write('data');
    const sync = await code(h.sync());
    const dsync = await code(h.datasync());
    await h.close();
    const { stdout } = await exec('python3', ['-c', `import os; fd = os.open(${JSON.stringify(d)}, os.O_RDONLY); os.fsync(fd); print('dir-ok')`]);
    return { sync, dsync, dir: stdout.trim() };
  },
};

/** Scenarios a mount kind without `caps` cannot run. */
export function scenariosFor(caps: Capabilities): string[] {
  return Object.keys(posix).filter((n) => (n !== 'xattrs' || caps.xattr) && (n !== 'hardlinks' || caps.hardlinks) && (n !== 'specialFiles' || caps.root) && (n !== 'attributes' || caps.root));
}

/** Runs one scenario in a child process against dir; returns its observation. */
export async function observe(name: string, dir: string, timeoutMs = 120_000): Promise<unknown> {
  const r = await run(process.execPath, [join(REPO, 'dist/test/integration/conformance.js'), name, dir], { timeoutMs });
  if (r.timedOut) throw new Error(`${name} on ${dir}: timed out after ${timeoutMs} ms`);
  if (r.code !== 0) throw new Error(`${name} on ${dir}: exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name, dir] = process.argv.slice(2);
  const scenario = posix[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  process.stdout.write(`${JSON.stringify(await scenario(dir), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}
