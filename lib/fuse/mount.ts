// A mounted FUSE session: start it, learn when it ends, stop it.
//
// Lifecycle: start() mounts and returns; the session serves until the kernel
// closes the connection. That happens on an external `umount`, or on
// unmount() here, which detaches the mount and, if a client still holds it
// open after a grace period, aborts the connection (fusectl) so the process
// can exit. `ended` resolves once every request in flight is answered and
// the native session is freed.
import { execFile } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Backend } from '../backend/backend.js';
import { isCode } from '../errno.js';
import { FSTYPE, mountAt } from './mountinfo.js';
import { type Native, native as loadNative, Op, type Req, type Session } from './native.js';
import { FuseOps } from './ops.js';
import { fuseArgs, type MountOptions } from './options.js';
import { withTimeout } from './preflight.js';

const run = promisify(execFile);
const EPERM = 1;

export interface StartOptions {
  backend: Backend;
  /** Absolute, normalised path. */
  mountpoint: string;
  options: MountOptions;
  warn?: (msg: string) => void;
  /** How long unmount() waits for clients to let go before aborting the connection. */
  graceMs?: number;
  /** Called for every request that reaches JS (for `stableid status`; must be cheap). */
  onRequest?: (op: Op) => void;
}

export class FuseMount {
  readonly ended: Promise<void>;
  readonly ops: FuseOps;
  private session: Session | undefined;
  private finished = false;
  private inflight = 0;
  private idleWaiter: (() => void) | undefined;
  private resolveEnded!: () => void;
  /** fusectl connection number, for aborting a connection that will not end. */
  private connection: number | undefined;

  private constructor(
    private readonly native: Native,
    private readonly opts: StartOptions,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.ops = new FuseOps({ backend: opts.backend, native, cache: opts.options.cache, noatime: opts.options.noatime, directIo: opts.options.threads > 1, callerGroups: opts.options.allowOther, warn: opts.warn });
  }

  static async start(opts: StartOptions): Promise<FuseMount> {
    const nat = loadNative();
    const m = new FuseMount(nat, opts);
    const o = opts.options;
    m.session = nat.mount(
      opts.mountpoint,
      fuseArgs(o),
      { entryTimeout: o.entryTimeout, attrTimeout: o.attrTimeout, maxWrite: o.maxWrite, maxBackground: 64, writeback: o.writeback ? 1 : 0, posixAcl: o.posixAcl ? 1 : 0, exportSupport: o.exportSupport ? 1 : 0, threads: o.threads },
      m.dispatch,
    );
    const entry = await mountAt(opts.mountpoint).catch(() => undefined);
    if (entry?.fstype === FSTYPE) m.connection = entry.dev;
    return m;
  }

  /** What INIT negotiated with the kernel (zeros until the first request). */
  info(): { maxWrite: number; maxReadahead: number } {
    return this.session ? this.native.info(this.session) : { maxWrite: 0, maxReadahead: 0 };
  }

  private readonly dispatch = (op: Op, req: Req, ino: bigint, a?: unknown, b?: unknown, c?: unknown, d?: unknown): void => {
    if (op === Op.ENDED) {
      this.ops.end();
      void this.finish();
      return;
    }
    this.opts.onRequest?.(op);
    if (op === Op.FORGET) {
      this.ops.handle(op, req, ino, a, b, c, d);
      return;
    }
    // Count requests in flight: the native session may be freed only when
    // none of them can still reply through it.
    this.inflight++;
    const done = () => {
      if (--this.inflight === 0) this.idleWaiter?.();
    };
    this.ops.handle(op, req, ino, a, b, c, d, done);
  };

  private async finish(): Promise<void> {
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.idleWaiter = resolve));
    this.finished = true;
    if (this.session) this.native.destroy(this.session);
    this.session = undefined;
    this.resolveEnded();
  }

  /**
   * Resolves once a stat of the mountpoint, through the kernel, returns the
   * export root's id: the kernel's INIT and the first GETATTR have been
   * answered. Asynchronous (a libuv pool thread waits, this thread serves).
   */
  async answers(timeoutMs = 30_000): Promise<void> {
    const st = await withTimeout(stat(this.opts.mountpoint, { bigint: true }), timeoutMs);
    if (!st) throw new Error(`${this.opts.mountpoint} did not answer a stat within ${timeoutMs} ms`);
    const rootId = this.opts.backend.root.id;
    if (st.ino !== rootId) throw new Error(`${this.opts.mountpoint} shows inode ${st.ino}, not the export root's id ${rootId}: something else is mounted over it`);
  }

  /** Unmounts (lazily) and resolves when the session has ended. */
  async unmount(): Promise<void> {
    if (this.finished || !this.session) return this.ended;
    const rc = this.native.detach(this.session);
    if (rc === EPERM) await run('fusermount3', ['-u', '-z', '--', this.opts.mountpoint], { timeout: 10_000 }).catch(() => undefined);
    const grace = this.opts.graceMs ?? 2000;
    if (await settlesWithin(this.ended, grace)) return;
    // A client still holds files open on the detached mount: end it for them.
    if (this.connection !== undefined) {
      this.opts.warn?.(`${this.opts.mountpoint} still in use after ${grace} ms: aborting the FUSE connection`);
      await abortConnection(this.connection).catch((err: Error) => this.opts.warn?.(`could not abort the FUSE connection: ${err.message}`));
    }
    return this.ended;
  }
}

const FUSECTL = '/sys/fs/fuse/connections';

/** Writes 1 to fusectl's abort file, mounting fusectl first if nobody has (minimal containers, some VMs). */
export async function abortConnection(connection: number): Promise<void> {
  const abort = `${FUSECTL}/${connection}/abort`;
  try {
    await writeFile(abort, '1');
  } catch (err) {
    if (!isCode(err, 'ENOENT') || (await mountAt(FUSECTL))) throw err;
    await run('mount', ['-t', 'fusectl', 'fusectl', FUSECTL], { timeout: 10_000 });
    await writeFile(abort, '1');
  }
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
