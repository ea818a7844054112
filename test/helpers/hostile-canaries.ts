// Canaries outside SRC for the hostile-client suite: root-owned 0600 files and
// a 0755 root directory of 0600 secrets, snapshotted (content, mode, owner,
// times, xattrs, listing) before a trick and compared after it. Each file's
// atime is set a day before its mtime, so with relatime any read of it moves
// the atime: a read through the mount shows up even when nothing was written.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { REPO } from './mount-fixture.js';
import { runOk } from './run.js';

const PYTHON = '/usr/bin/python3';

export interface CanaryLayout {
  /** Top-level 0600 files (targets for file symlinks). */
  files: string[];
  /** Names of the 0600 files in the 0755 directory `rootdir` (targets for directory symlinks). */
  dirFiles: string[];
}

export type Snapshot = Record<string, Record<string, unknown>>;

export class Canaries {
  /** The canary tree's root (0755, root-owned), outside SRC. */
  readonly dir: string;
  /** The 0755 root directory of secrets, dir/rootdir. */
  readonly rootdir: string;
  /** Every canary's content: none of them may ever appear in a client's output. */
  readonly secrets = new Map<string, string>();
  private baseline: Snapshot = {};

  constructor(
    parent: string,
    readonly layout: CanaryLayout,
  ) {
    this.dir = join(parent, 'outside');
    this.rootdir = join(this.dir, 'rootdir');
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  /** (Re)creates the tree and records the baseline snapshot. */
  async plant(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.rootdir, { recursive: true });
    for (const d of [this.dir, this.rootdir]) {
      await chown(d, 0, 0);
      await chmod(d, 0o755);
    }
    const day = 86_400;
    const now = Math.floor(Date.now() / 1000);
    const paths = [...this.layout.files.map((n) => join(this.dir, n)), ...this.layout.dirFiles.map((n) => join(this.rootdir, n))];
    this.secrets.clear();
    for (const p of paths) {
      const secret = `${randomBytes(8).toString('hex')} canary ${p.slice(this.dir.length + 1)}\n`; // the random part first: a short read shows it
      this.secrets.set(p, secret);
      await writeFile(p, secret, { mode: 0o600 });
      await chown(p, 0, 0);
      await chmod(p, 0o600);
      await utimes(p, now - 2 * day, now - day); // atime before mtime: relatime records the next read
    }
    this.baseline = await snapshot(this.dir);
  }

  /** What changed since plant(), one line per difference ([] when nothing did). */
  async changes(): Promise<string[]> {
    return diff(this.baseline, await snapshot(this.dir));
  }

  /** Canaries whose content (its random first 16 characters) is found in text (a client's output). */
  leaked(text: string): string[] {
    return [...this.secrets].filter(([, s]) => text.includes(s.slice(0, 16))).map(([p]) => p);
  }
}

/** Plants canaries under parent (outside SRC); they are removed with parent. */
export async function plantCanaries(t: ExecutionContext, parent: string, layout: CanaryLayout): Promise<Canaries> {
  const c = new Canaries(parent, layout);
  await c.plant();
  t.teardown(() => rm(c.dir, { recursive: true, force: true }));
  return c;
}

export async function snapshot(dir: string): Promise<Snapshot> {
  return JSON.parse(await runOk(PYTHON, [join(REPO, 'test/helpers/hostile/snapshot.py'), dir], { timeoutMs: 30_000 })) as Snapshot;
}

export function diff(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  const shown = new Set(['mode', 'uid', 'gid', 'size', 'nlink', 'entries', 'target', 'xattrs']);
  for (const [rel, b] of Object.entries(before)) {
    const a = after[rel];
    const name = rel || '.';
    if (!a) {
      out.push(`${name}: removed`);
      continue;
    }
    const changed: string[] = [];
    for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
      const bv = JSON.stringify(b[key]);
      const av = JSON.stringify(a[key]);
      if (bv === av) continue;
      if (key === 'sha256') changed.push('content');
      else if (key === 'entries') {
        const was = new Set(b[key] as string[]);
        const is = new Set(a[key] as string[]);
        const moves = [...[...is].filter((n) => !was.has(n)).map((n) => `+${n}`), ...[...was].filter((n) => !is.has(n)).map((n) => `-${n}`)];
        changed.push(`entries ${moves.slice(0, 10).join(' ')}${moves.length > 10 ? ` (${moves.length} in all)` : ''}`);
      }
      else if (key === 'atime') changed.push('atime (read?)');
      else changed.push(shown.has(key) ? `${key} ${bv} -> ${av}` : key);
    }
    if (changed.length) out.push(`${name}: ${changed.join(', ')}`);
  }
  const appeared = Object.keys(after).filter((rel) => !before[rel]);
  for (const rel of appeared.slice(0, 10)) out.push(`${rel}: appeared (mode ${String(after[rel]!.mode)} uid ${String(after[rel]!.uid)})`);
  if (appeared.length > 10) out.push(`... ${appeared.length} entries appeared in all`);
  return out;
}
