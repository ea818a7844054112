// `stableid smb-conf`: the printed share section is what docs/samba.md shows;
// testparm parses it without complaint, and a real smbd loads its VFS modules
// (a module that fails to load refuses the tree connect) and serves st_ino.
import test from 'ava';
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runMain } from '../../lib/cli/main.js';
import { canRunSmbd, startSmbd } from '../helpers/smbd.js';

const run = promisify(execFile);

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runMain(argv, { io: { out: (s) => void (out += s), err: (s) => void (err += s) } });
  return { code, out, err };
}

async function tempDir(t: import('ava').ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const smb = await canRunSmbd();
const hasTestparm = await run('testparm', ['--version']).then(
  () => true,
  () => false,
);

test('smb-conf prints a share section for the mountpoint', async (t) => {
  const dir = await tempDir(t, 'stableid-smbconf-');
  const r = await cli(['smb-conf', dir, '--share', 'media']);
  t.is(r.code, 0, r.err);
  t.true(r.out.startsWith('[media]\n'));
  t.regex(r.out, new RegExp(`^\\s*path = ${dir}$`, 'm'));
  t.regex(r.out, /^\s*vfs objects = fileid$/m);
  t.regex(r.out, /^\s*fileid:algorithm = fsname$/m);
  t.regex(r.out, /^\s*fruit:zero_file_id = no$/m);
  t.regex(r.err, /is not mounted now/, 'a plain directory gets a note on stderr');
  const mac = await cli(['smb-conf', dir, '--macos']);
  t.regex(mac.out, /^\s*vfs objects = catia fruit streams_xattr fileid$/m);
  t.true(mac.out.startsWith(`[${dir.split('/').pop()}]`), 'the share name defaults to the basename');
});

(process.getuid?.() === 0 ? test.serial : test.serial.skip)('smb-conf warns when MNT is some other mount', async (t) => {
  const dir = await tempDir(t, 'stableid-smbconf-');
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b'));
  await run('mount', ['--bind', join(dir, 'a'), join(dir, 'b')]);
  t.teardown(() => run('umount', [join(dir, 'b')]).then(() => undefined, () => undefined));
  const r = await cli(['smb-conf', join(dir, 'b')]);
  t.is(r.code, 0, 'a warning, not a refusal: the snippet is still printed');
  t.regex(r.err, /is a \S+ mount, not a stableid mount \(fuse\.stableid\)/);
  t.true(r.out.startsWith('[b]\n'));
});

test('smb-conf refuses share names and paths smb.conf would misread', async (t) => {
  const bad = await cli(['smb-conf', '/srv/x', '--share', 'a]b']);
  t.is(bad.code, 2);
  t.regex(bad.err, /invalid share name "a\]b"/);
  const pct = await cli(['smb-conf', '/srv/100%U']);
  t.is(pct.code, 2);
  t.regex(pct.err, /contains %/);
});

(hasTestparm ? test : test.skip)(
  `testparm accepts the snippet, plain and --macos${hasTestparm ? '' : ' (skipped: no testparm; apt-get install samba-common-bin)'}`,
  async (t) => {
    const dir = await tempDir(t, 'stableid-smbconf-');
    for (const extra of [[], ['--macos']]) {
      const { out } = await cli(['smb-conf', dir, '--share', 'data', ...extra]);
      const conf = join(dir, 'smb.conf');
      await writeFile(conf, `[global]\n  server role = standalone server\n\n${out}`);
      const r = await run('testparm', ['-s', conf], { timeout: 30_000 });
      t.notRegex(r.stderr, /unknown parameter|error|invalid/i, r.stderr);
      t.regex(r.stderr, /Loaded services file OK/);
      // testparm prints what it understood: every setting made it through.
      t.regex(r.stdout, new RegExp(`\\[data\\][^[]*path = ${dir}`));
      t.regex(r.stdout, /fileid:algorithm = fsname/);
      t.regex(r.stdout, /fruit:zero_file_id = no/);
      t.regex(r.stdout, new RegExp(`vfs objects = ${extra.length ? 'catia fruit streams_xattr fileid' : 'fileid'}`));
    }
  },
);

(smb.ok ? test.serial : test.serial.skip)(
  `smbd loads the snippet's modules and serves st_ino as FileId${smb.ok ? '' : ` (skipped: ${smb.reason})`}`,
  async (t) => {
    const dir = await tempDir(t, 'stableid-smbconf-');
    await mkdir(join(dir, 'share', 'sub'), { recursive: true });
    await writeFile(join(dir, 'share', 'sub', 'a.txt'), 'a\n');
    const share = join(dir, 'share');
    const plain = (await cli(['smb-conf', share, '--share', 'plain'])).out;
    const mac = (await cli(['smb-conf', share, '--share', 'mac', '--macos'])).out;
    const smbd = await startSmbd(t, [
      { name: 'plain', section: plain },
      { name: 'mac', section: mac },
    ]);
    for (const name of ['plain', 'mac']) {
      const ids = await smbd.fileIds(name);
      t.deepEqual(ids.map((f) => f.path), ['', 'sub', 'sub/a.txt'], `[${name}] lists the tree`);
      for (const f of ids) t.is(f.internalId, (await lstat(join(share, f.path), { bigint: true })).ino, `[${name}] ${f.path}`);
    }
  },
);
