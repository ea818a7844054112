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
import { MS_NOSUID, mountSpec } from './mount-spec.js';
import { bindReplies, type MountSpec, type Native, native as loadNative, type Req, type Session, type SessionInfo } from './native.js';
import { OPS, requestName } from './op-table.js';
import { FuseOps } from './ops.js';
import type { MountOptions } from './options.js';
import { Passthrough } from './passthrough.js';
import { settlesWithin, withTimeout } from './preflight.js';
import { requests as sysRequests } from '../sys/sys.js';

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
    const session = () => {
      if (!this.session) throw new Error('the FUSE session is gone');
      return this.session;
    };
    const be = opts.backend;
    const passthrough = new Passthrough({
      open: (fd, nodeId) => native.backingOpen(session(), fd, nodeId),
      close: (id, nodeId) => native.backingClose(session(), id, nodeId),
      fdOf: (fh) => be.fd?.(fh),
      enabled: () => (this.passthroughOn ??= this.session ? native.info(this.session).passthrough : false),
      warn: (msg) => opts.warn?.(msg),
    });
    const killprivV2 = () => (this.killprivOn ??= this.session ? native.info(this.session).killprivV2 : false);
    this.spec = mountSpec(opts.options.fuse, opts.options.fsname, 'stableid');
    this.ops = new FuseOps({ backend: be, replies: bindReplies(native, session), passthrough, cache: opts.options.cache, noatime: opts.options.noatime, directIo: opts.options.threads > 1, callerGroups: opts.options.allowOther, warn: opts.warn, killprivV2, mountSuid: !(this.spec.flags & MS_NOSUID) });
  }

  /** How the connection is mounted (its MS_* flags decide KILLPRIV_V2 and the exec rules too). */
  private readonly spec: MountSpec;

  /** Settled at the first open (INIT is answered before any request). */
  private passthroughOn: boolean | undefined;
  private killprivOn: boolean | undefined;

  static async start(opts: StartOptions): Promise<FuseMount> {
    const nat = loadNative();
    const m = new FuseMount(nat, opts);
    const o = opts.options;
    m.session = nat.mount(
      opts.mountpoint,
      m.spec,
      {
        entryTimeout: o.entryTimeout, attrTimeout: o.attrTimeout, maxWrite: o.maxWrite, maxBackground: 64, writeback: o.writeback ? 1 : 0,
        posixAcl: o.posixAcl ? 1 : 0, exportSupport: o.exportSupport ? 1 : 0, passthrough: o.passthrough ? 1 : 0, readdirplusAuto: o.readdirplusAuto ? 1 : 0, threads: o.threads,
        spinMicros: o.spinMicros, killpriv: m.spec.flags & MS_NOSUID ? 1 : 0,
      },
      m.dispatch,
    );
    // As root the addon read it from the mount before attaching it; MNT's
    // path (fusermount3) may have been renamed since, so this is a fallback.
    m.connection = nat.info(m.session).connection || undefined;
    if (m.connection === undefined) {
      const entry = await mountAt(opts.mountpoint).catch(() => undefined);
      if (entry?.fstype === FSTYPE) m.connection = entry.dev;
    }
    return m;
  }

  /** What INIT negotiated with the kernel (zeros until it is answered). */
  info(): SessionInfo {
    if (!this.session) return { connection: 0, maxWrite: 0, maxReadahead: 0, minor: 0, passthrough: false, passthroughOff: 'not mounted', killprivV2: false };
    const info = this.native.info(this.session);
    return this.opts.options.passthroughOff ? { ...info, passthroughOff: this.opts.options.passthroughOff } : info;
  }

  /** Requests by name since the mount, counted by the addon (also those JS never sees: data threads, INIT). */
  requestCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    if (!this.session) return out;
    this.native.counts(this.session).forEach((n, code) => {
      if (n > 0) out[requestName(code)] = n;
    });
    return out;
  }

  private readonly dispatch = (op: number, req: Req | undefined, ino: bigint, ...args: unknown[]): void => {
    if (op === OPS.ENDED[0]) {
      this.ops.end();
      void this.finish();
      return;
    }
    if (req === undefined) {
      this.ops.handle(op, req, ino, args);
      return;
    }
    // Count requests in flight: the native session may be freed only when
    // none of them can still reply through it.
    this.inflight++;
    sysRequests.begin();
    const done = () => {
      sysRequests.end();
      if (--this.inflight === 0) this.idleWaiter?.();
    };
    this.ops.handle(op, req, ino, args, done);
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
