// `stableid table show|verify|repair|export SRC`: look at and mend an export's prefix table.
import type { Argv } from 'yargs';
import { composeId } from '../../mapper/mapper.js';
import { inspectExport, liveDevices } from '../../mapper/inspect.js';
import { DEFAULT_STATE_DIR, stateFileFor } from '../../mapper/open.js';
import { type ExportLock, ExportLockedError, lockExport } from '../../table/lock.js';
import { applyRepair, planRepair } from '../../table/repair.js';
import { StateFileStore } from '../../table/state-file-store.js';
import { encodeBody, encodeChunks } from '../../table/record.js';
import type { CommandFactory, Context } from '../context.js';
import { UsageError } from '../io.js';
import { realpath, stat } from 'node:fs/promises';

interface Common {
  src: string;
  'state-dir': string;
  json?: boolean;
}

const common = (y: Argv) =>
  y
    .positional('src', { type: 'string', demandOption: true, describe: 'the export root' })
    .option('state-dir', { type: 'string', default: DEFAULT_STATE_DIR, describe: 'where the state file is kept when the root cannot hold the table' });

async function rootOf(src: string): Promise<string> {
  try {
    return await realpath(src);
  } catch (err) {
    throw new UsageError(`${src}: ${(err as Error).message}; name an existing directory`, 2);
  }
}

async function show(ctx: Context, a: Common): Promise<void> {
  const v = await inspectExport({ root: await rootOf(a.src), stateDir: a['state-dir'] });
  const live = await liveDevices(v);
  const stDevOf = (i: number): bigint | undefined => {
    const d = v.data.devices[i]!;
    return (live.find((l) => l.id.identity === d.identity) ?? live.find((l) => d.kind !== 'root' && l.id.alt === d.alt && (l.id.kind === 'mount' || d.kind === 'mount')))?.dev;
  };
  const rows = [
    { prefix: 0, hi: 0, kind: 'root', identity: 'root (the export root\'s filesystem)', fingerprint: '', stDev: v.rootDev as bigint | undefined },
    ...v.data.prefixes.map((p, i) => {
      const d = v.data.devices[p.device]!;
      return { prefix: i + 1, hi: p.hi, kind: d.kind, identity: d.identity, fingerprint: d.fingerprint.toString(16).padStart(16, '0'), stDev: stDevOf(p.device) };
    }),
  ];
  if (a.json) {
    ctx.io.out(
      JSON.stringify({
        root: v.root,
        source: v.table.source,
        writesGoTo: v.table.where,
        generation: v.data.generation.toString(),
        servedBy: v.heldBy ?? null,
        copies: v.table.candidates.map((c) => ({ ...c, generation: c.generation.toString() })),
        prefixes: rows.map((r) => ({ ...r, stDev: r.stDev === undefined ? null : r.stDev.toString(), firstId: composeId(r.prefix, BigInt(r.hi) << 48n).toString() })),
      }),
    );
    return;
  }
  const out = [`export ${v.root}${v.heldBy ? ` (served now by ${v.heldBy})` : ''}`, `table: ${v.table.source}; new prefixes go to ${v.table.where}`];
  for (const c of v.table.candidates) out.push(`  copy: ${c.where}, generation ${c.generation}, ${c.state}${c.note ? ` (${c.note})` : ''}`);
  out.push('prefix  ino>>48  st_dev now     kind   fingerprint       identity');
  for (const r of rows) out.push(`${String(r.prefix).padEnd(8)}${String(r.hi).padEnd(9)}${(r.stDev === undefined ? 'absent' : String(r.stDev)).padEnd(15)}${r.kind.padEnd(7)}${r.fingerprint.padEnd(18)}${r.identity}`);
  ctx.io.out(out.join('\n'));
}

async function verify(ctx: Context, a: Common): Promise<void> {
  // load() refuses any damaged chunk in any copy, so reaching the end means every copy checked out.
  const v = await inspectExport({ root: await rootOf(a.src), stateDir: a['state-dir'], log: (m) => ctx.io.err(m) });
  const used = v.data.prefixes.length;
  const notes: string[] = [];
  if (used >= 0xffff * 0.9) notes.push(`warning: ${used} of 65535 prefixes used`);
  ctx.io.out([`ok: ${v.root}: ${used} prefixes, ${v.table.source}; every copy's chunks and CRCs check out`, ...notes].join('\n'));
}

type RepairArgs = Common & { from?: string; reserve?: number; yes?: boolean; 'start-over'?: boolean };

async function repair(ctx: Context, a: RepairArgs): Promise<void> {
  const root = await rootOf(a.src);
  const st = await stat(root, { bigint: true });
  // Hold the export's lock while repairing, so no server starts on a half-repaired table.
  let lock: ExportLock;
  try {
    lock = await lockExport(root, st.dev, st.ino);
  } catch (err) {
    if (err instanceof ExportLockedError) throw new UsageError(`${root} is served now by ${err.holder}; stop it before repairing its table`, 1);
    throw err;
  }
  try {
    await repairLocked(ctx, a, root);
  } finally {
    await lock.release();
  }
}

async function repairLocked(ctx: Context, a: RepairArgs, root: string): Promise<void> {
  const plan = await planRepair({ root, stateFile: stateFileFor(root, a['state-dir']), from: a.from, reserve: a.reserve, startOver: a['start-over'] });
  const lines = [`table of ${root}:`];
  for (const f of plan.found) lines.push(`  ${f.status.padEnd(12)} ${f.where}${f.generation !== undefined ? `, generation ${f.generation}` : ''}${f.prefixes !== undefined ? `, ${f.prefixes} prefixes` : ''}: ${f.detail}`);
  if (plan.found.length === 0) lines.push('  no copy found (a new export has no table until its first new device)');
  if (plan.found.every((f) => f.status === 'intact' || f.status === 'moved-marker') && !a.from && !a['start-over']) {
    ctx.io.out([...lines, 'nothing to repair: every copy is intact'].join('\n'));
    return;
  }
  if (plan.problem) {
    ctx.io.err([...lines, `cannot repair: ${plan.problem}`].join('\n'));
    ctx.exitCode = 1;
    return;
  }
  lines.push(`restore: ${plan.source!.where} (generation ${plan.source!.data.generation}, ${plan.source!.data.prefixes.length} prefixes) as generation ${plan.maxGeneration + 1n}`);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  if (!a.yes) {
    ctx.io.out([...lines, 'nothing written; run again with --yes to do this'].join('\n'));
    ctx.exitCode = 1;
    return;
  }
  const done = await applyRepair(plan, (m) => ctx.io.err(m));
  ctx.io.out([...lines, `repaired: ${done.prefixes} prefixes, generation ${done.generation}, in ${done.where}`].join('\n'));
}

async function exportTable(ctx: Context, a: Common & { file: string }): Promise<void> {
  const v = await inspectExport({ root: await rootOf(a.src), stateDir: a['state-dir'] });
  const body = encodeBody(v.data);
  await new StateFileStore(a.file).writeSlot(v.data.generation, (max) => encodeChunks(body, { flags: 0, prefixCount: v.data.prefixes.length, generation: v.data.generation }, max));
  ctx.io.out(`wrote generation ${v.data.generation} (${v.data.prefixes.length} prefixes) to ${a.file}; restore with: stableid table repair ${v.root} --from ${a.file} --yes`);
}

export const tableCommand: CommandFactory = (ctx) => ({
  command: 'table <command>',
  describe: 'inspect, check, back up or repair the prefix table of an export',
  builder: (y: Argv) =>
    y
      .command({
        command: 'show <src>',
        describe: 'each prefix: device identity, its st_dev now (or absent), where the table is stored',
        builder: (y2: Argv) => common(y2).option('json', { type: 'boolean', default: false }),
        handler: (a) => show(ctx, a as unknown as Common),
      })
      .command({
        command: 'verify <src>',
        describe: 'check every copy of the table; exit 1 on any problem, saying what',
        builder: (y2: Argv) => common(y2),
        handler: (a) => verify(ctx, a as unknown as Common),
      })
      .command({
        command: 'repair <src>',
        describe: 'restore the newest intact generation (or --from a backup) as a new generation; never an empty table',
        builder: (y2: Argv) =>
          common(y2)
            .option('from', { type: 'string', describe: 'a backup: a state file or the output of `table export`' })
            .option('reserve', { type: 'number', describe: 'retire prefix numbers up to N even if no damaged copy claims them' })
            .option('start-over', { type: 'boolean', default: false, describe: 'no copy and no backup: a new table that retires the old prefix numbers (files off the root filesystem get new ids)' })
            .option('yes', { type: 'boolean', default: false, describe: 'write the repair (without it, only print the plan)' }),
        handler: (a) => repair(ctx, a as unknown as RepairArgs),
      })
      .command({
        command: 'export <src> <file>',
        describe: 'write a backup of the table (state-file format) that `table repair --from` accepts',
        builder: (y2: Argv) => common(y2).positional('file', { type: 'string', demandOption: true }),
        handler: (a) => exportTable(ctx, a as unknown as Common & { file: string }),
      })
      .demandCommand(1, 'Name a table command: show, verify, repair or export.'),
  handler: () => {},
});
