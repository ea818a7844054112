// The table CLI, in-process through runMain: id, show --json, verify naming
// the damage and the repair command, repair (dry run, --yes, retired
// prefixes), export and repair --from.
import test from 'ava';
import * as xattr from 'fs-xattr';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain } from '../../lib/cli/main.js';
import { openMapper } from '../../lib/mapper/open.js';
import { XattrStore } from '../../lib/table/xattr-store.js';
import { tmpXattrsGate } from '../helpers/xattr-gate.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runMain(argv, { io: { out: (s) => void (out += `${s}\n`), err: (s) => void (err += `${s}\n`) } });
  return { code, out, err };
}

const xattrsHere = await tmpXattrsGate();
const xtest = xattrsHere ? test.skip : test.serial;

async function exportWithTable(t: import('ava').ExecutionContext, generations: number) {
  const base = await mkdtemp(join(tmpdir(), 'stableid-cli-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const src = join(base, 'src');
  const stateDir = join(base, 'state');
  await writeFile(join(base, 'placeholder'), '');
  await (await import('node:fs/promises')).mkdir(src);
  await writeFile(join(src, 'f.txt'), 'x');
  const st = await stat(src, { bigint: true });
  const m = await openMapper({ root: src, stateDir });
  const ids: bigint[] = [];
  // Root device, ino >= 2^48: one new prefix (and one generation) each.
  for (let i = 1; i <= generations; i++) ids.push(await m.idFor(st.dev, (BigInt(i) << 48n) | 7n));
  await m.close();
  return { base, src, stateDir, dev: st.dev, ids };
}

xtest(`id prints the stable id; show --json lists prefixes with st_dev now${xattrsHere}`, async (t) => {
  const e = await exportWithTable(t, 3);
  const r = await cli('id', e.src, 'f.txt', '--state-dir', e.stateDir);
  t.is(r.code, 0, r.err);
  t.is(r.out.trim(), (await stat(join(e.src, 'f.txt'), { bigint: true })).ino.toString());
  const s = await cli('table', 'show', e.src, '--state-dir', e.stateDir, '--json');
  t.is(s.code, 0, s.err);
  const j = JSON.parse(s.out);
  t.is(j.prefixes.length, 4);
  t.like(j.prefixes[2], { prefix: 2, hi: 2, kind: 'root', stDev: e.dev.toString() });
  t.is(j.generation, '3');
  t.regex(j.source, /xattrs user\.stableid\.\* on .*generation 3/);
  const text = await cli('table', 'show', e.src, '--state-dir', e.stateDir);
  t.regex(text.out, /^3 +3 +\d+ +root /m);
});

xtest(`verify names damage and the repair; repair restores the older generation and retires the lost prefix${xattrsHere}`, async (t) => {
  const e = await exportWithTable(t, 3); // gen 3 in slot a, gen 2 in slot b
  t.is((await cli('table', 'verify', e.src, '--state-dir', e.stateDir)).code, 0);
  const name = XattrStore.nameOf('a', 0);
  const buf = Buffer.from(await xattr.getAttribute(e.src, name));
  buf[buf.length - 2]! ^= 0x10;
  await xattr.setAttribute(e.src, name, buf);

  const v = await cli('table', 'verify', e.src, '--state-dir', e.stateDir);
  t.is(v.code, 1);
  t.regex(v.err, new RegExp(`${name.replace(/\./g, '\\.')}: CRC32C mismatch`));
  t.regex(v.err, new RegExp(`stableid table repair ${e.src}`));
  // A server refuses to start too, with the same message.
  await t.throwsAsync(openMapper({ root: e.src, stateDir: e.stateDir }), { message: /CRC32C mismatch.*table repair/ });

  const dry = await cli('table', 'repair', e.src, '--state-dir', e.stateDir);
  t.is(dry.code, 1);
  t.regex(dry.out, /damaged .*user\.stableid\.a\.0: CRC32C mismatch/);
  t.regex(dry.out, /restore: xattr slot .*generation 2, 2 prefixes\) as generation 4/);
  t.regex(dry.out, /prefixes 3\.\.3 .* retired, never reused/);
  t.regex(dry.out, /nothing written/);

  const fix = await cli('table', 'repair', e.src, '--state-dir', e.stateDir, '--yes');
  t.is(fix.code, 0, fix.err);
  t.is((await cli('table', 'verify', e.src, '--state-dir', e.stateDir)).code, 0);
  const m = await openMapper({ root: e.src, stateDir: e.stateDir });
  t.is(await m.idFor(e.dev, (1n << 48n) | 7n), e.ids[0]);
  t.is(await m.idFor(e.dev, (2n << 48n) | 7n), e.ids[1]);
  const again = await m.idFor(e.dev, (3n << 48n) | 7n);
  t.not(again >> 48n, 3n, 'prefix 3 was handed out before the damage: it must not be reused');
  t.is(again >> 48n, 4n);
  await m.close();
});

xtest(`with no intact copy, repair refuses unless given a backup; export + repair --from restores it${xattrsHere}`, async (t) => {
  const e = await exportWithTable(t, 2);
  const backup = join(e.base, 'backup.table');
  const ex = await cli('table', 'export', e.src, backup, '--state-dir', e.stateDir);
  t.is(ex.code, 0, ex.err);
  for (const slot of ['a', 'b']) await xattr.setAttribute(e.src, XattrStore.nameOf(slot, 0), Buffer.from('garbage that is not a table'));
  const no = await cli('table', 'repair', e.src, '--state-dir', e.stateDir, '--yes');
  t.is(no.code, 1);
  t.regex(no.err, /cannot repair: no intact copy.*--from FILE/);
  const yes = await cli('table', 'repair', e.src, '--state-dir', e.stateDir, '--from', backup, '--yes');
  t.is(yes.code, 0, yes.err);
  t.regex(yes.out, /unreadable header.*--reserve N/);
  const m = await openMapper({ root: e.src, stateDir: e.stateDir });
  t.is(await m.idFor(e.dev, (2n << 48n) | 7n), e.ids[1]);
  await m.close();
});

xtest(`start over without a backup retires the old prefix numbers${xattrsHere}`, async (t) => {
  const e = await exportWithTable(t, 3);
  const name = XattrStore.nameOf('a', 0);
  for (const slot of ['a', 'b']) {
    const n = XattrStore.nameOf(slot, 0);
    const buf = Buffer.from(await xattr.getAttribute(e.src, n));
    buf[buf.length - 1]! ^= 1; // CRC fails, header still says how many prefixes
    await xattr.setAttribute(e.src, n, buf);
  }
  const no = await cli('table', 'repair', e.src, '--state-dir', e.stateDir, '--yes');
  t.regex(no.err, /--start-over/);
  const yes = await cli('table', 'repair', e.src, '--state-dir', e.stateDir, '--start-over', '--yes');
  t.is(yes.code, 0, yes.err);
  t.regex(yes.out, /prefixes 1\.\.3 .* retired/);
  t.regex(yes.out, new RegExp(`damaged .*${name.replace(/\./g, '\\.')}`));
  const m = await openMapper({ root: e.src, stateDir: e.stateDir });
  const fresh = await m.idFor(e.dev, (1n << 48n) | 7n);
  t.is(fresh >> 48n, 4n, 'the first new prefix comes after every number the old table had');
  await m.close();
});

xtest(`while a server holds the export, id answers read-only and repair is refused${xattrsHere}`, async (t) => {
  const e = await exportWithTable(t, 1);
  const server = await openMapper({ root: e.src, stateDir: e.stateDir });
  t.teardown(() => server.close());
  const known = await cli('id', e.src, 'f.txt', '--state-dir', e.stateDir);
  t.is(known.code, 0, known.err);
  const v = await cli('table', 'repair', e.src, '--state-dir', e.stateDir, '--yes');
  t.is(v.code, 1);
  t.regex(v.err, new RegExp(`served now by pid ${process.pid}; stop it`));
});

xtest(`id refuses a path that leaves SRC through a symlink, and allocates nothing for it${xattrsHere}`, async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-cli-esc-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const fs = await import('node:fs/promises');
  await fs.mkdir(join(base, 'src/d'), { recursive: true });
  await fs.mkdir(join(base, 'outside'));
  await writeFile(join(base, 'outside/secret'), 's');
  await fs.symlink(join(base, 'outside'), join(base, 'src/esc'));
  const state = join(base, 'state');
  for (const p of ['esc/secret', join(base, 'outside/secret'), '../outside/secret']) {
    const r = await cli('id', join(base, 'src'), p, '--state-dir', state);
    t.is(r.code, 2, p);
    t.regex(r.err, /is not inside/, p);
  }
  const ok = await cli('id', join(base, 'src'), 'esc', '--state-dir', state, '--json');
  t.is(ok.code, 0, 'the symlink itself is inside SRC and has an id');
  const show = await cli('table', 'show', join(base, 'src'), '--state-dir', state, '--json');
  t.deepEqual(JSON.parse(show.out).prefixes.filter((p: { prefix: number }) => p.prefix !== 0), [], 'no prefix was allocated (prefix 0 is the root\'s own)');
});
