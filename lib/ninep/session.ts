// One client connection: framing, Tversion/Tflush, and dispatch of every
// other T-message to its handler. Requests run concurrently; each is answered
// exactly once, with its R-message or Rlerror. A frame we cannot even delimit
// (size below the header or above msize) closes the connection: there is no
// way to find the next frame, and answering would desynchronise the client.
import type { Duplex } from 'node:stream';
import type { Backend } from '../backend/backend.js';
import { errnos, toErrno } from '../errno.js';
import { DecodeError, decode, encode, encodeParts, show, trace } from './codec.js';
import type { Ctx } from './context.js';
import { FidTable } from './fids.js';
import { releaseFid } from './handlers-io.js';
import { handlers } from './handlers.js';
import * as M from './messages.js';
import { requests as sysRequests } from '../sys/sys.js';

export interface SessionOptions {
  backend: Backend;
  maxMsize: number;
  exportPath?: string;
  log: (line: string) => void;
  onRequest?: (type: number) => void;
}

/** Requests in flight per connection before we stop reading from it. */
const MAX_INFLIGHT = 128;
const MIN_MSIZE = 4096;

export class Session {
  readonly fids = new FidTable();
  private readonly ctx: Ctx;
  private versioned = false;
  private closed = false;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly inflight = new Map<number, Promise<void>>();
  private writeBlocked = false;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: SessionOptions,
    private readonly name: string,
  ) {
    this.ctx = { backend: opts.backend, fids: this.fids, msize: opts.maxMsize, exportPath: opts.exportPath };
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.flowControl();
    });
    socket.on('error', (err) => this.opts.log(`9p ${name}: ${err.message}`));
    socket.on('close', () => this.onClose());
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.closed && this.buffered >= 4) {
      const size = this.peekSize();
      if (size < M.HEADER_SIZE || size > this.ctx.msize) {
        this.opts.log(`9p ${this.name}: frame of ${size} bytes (header ${M.HEADER_SIZE}, msize ${this.ctx.msize}): closing the connection`);
        this.close();
        return;
      }
      if (this.buffered < size) return;
      this.dispatch(this.take(size));
    }
  }

  private peekSize(): number {
    if (this.chunks[0]!.length < 4) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.readUInt32LE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let frame: Buffer;
    if (first.length >= n) {
      frame = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      frame = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return frame;
  }

  private dispatch(frame: Buffer): void {
    let req;
    try {
      req = decode(frame);
    } catch (err) {
      const e = err as DecodeError;
      trace('%s: bad frame: %s', this.name, e.message);
      // Unknown (or R-) types get ENOSYS; a body that does not parse gets EPROTO.
      this.reply(e.tag, M.Rlerror, { ecode: M.byType.has(e.type) ? errnos.EPROTO! : errnos.ENOSYS! });
      return;
    }
    if (trace.enabled) trace('%s <- %s', this.name, show(req.def, req.tag, req.value));
    this.opts.onRequest?.(req.type);
    if (req.type === M.Tversion.type) return this.version(req.tag, req.value as { msize: number; version: string });
    if (!this.versioned) return this.reply(req.tag, M.Rlerror, { ecode: errnos.EPROTO! });
    sysRequests.begin();
    const work = req.type === M.Tflush.type ? this.flush(req.tag, req.value.oldtag as number) : this.run(req.tag, req.type, req.value);
    const done = work.finally(() => {
      sysRequests.end();
      if (this.inflight.get(req.tag) === done) this.inflight.delete(req.tag);
      this.flowControl();
      if (this.closed) void this.releaseAll();
    });
    this.inflight.set(req.tag, done);
    this.flowControl();
  }

  private async run(tag: number, type: number, value: Record<string, unknown>): Promise<void> {
    const h = handlers.get(type);
    if (!h) return this.reply(tag, M.Rlerror, { ecode: errnos.ENOSYS! });
    try {
      this.reply(tag, h.r, await h.run(value, this.ctx));
    } catch (err) {
      if (trace.enabled) trace('%s error in %s: %s', this.name, h.t.name, (err as Error)?.message);
      this.reply(tag, M.Rlerror, { ecode: toErrno(err) });
    }
  }

  /** 9P: Rflush goes after the flushed request's own answer (if any), never before. */
  private async flush(tag: number, oldtag: number): Promise<void> {
    await this.inflight.get(oldtag)?.catch(() => undefined);
    this.reply(tag, M.Rflush, {});
  }

  /**
   * 9P2000: Tversion starts a new session (all fids are clunked). We speak
   * 9P2000.L only; any other dialect is answered with "unknown" and the
   * client may try again.
   */
  private version(tag: number, { msize, version }: { msize: number; version: string }): void {
    void this.releaseAll();
    const ok = version.startsWith('9P2000.L') && msize >= MIN_MSIZE;
    this.ctx.msize = ok ? Math.min(msize, this.opts.maxMsize) : this.opts.maxMsize;
    this.versioned = ok;
    this.reply(tag, M.Rversion, { msize: this.ctx.msize, version: ok ? '9P2000.L' : 'unknown' });
  }

  private reply(tag: number, def: M.MsgDef, value: Record<string, unknown>): void {
    if (this.socket.destroyed) return;
    let parts: Buffer[];
    try {
      parts = encodeParts(def, tag, value as never);
    } catch (err) {
      // A bug of ours (a value the wire cannot carry): log it, answer EIO.
      this.opts.log(`9p ${this.name}: cannot encode ${def.name}: ${(err as Error).stack}`);
      parts = [encode(M.Rlerror, tag, { ecode: errnos.EIO! })];
    }
    if (trace.enabled) trace('%s -> %s', this.name, show(def, tag, value));
    let ok = true;
    if (parts.length === 1) ok = this.socket.write(parts[0]);
    else {
      this.socket.cork(); // header and payload leave in one writev
      for (const p of parts) ok = this.socket.write(p) && ok;
      this.socket.uncork();
    }
    if (!ok) {
      this.writeBlocked = true;
      this.flowControl();
    }
  }

  /** Stop reading while the client is not reading our answers or has too many requests in flight. */
  private flowControl(): void {
    if (this.closed) return;
    if (this.writeBlocked || this.inflight.size >= MAX_INFLIGHT) this.socket.pause();
    else this.socket.resume();
  }

  private onClose(): void {
    this.closed = true;
    this.chunks = [];
    void this.releaseAll();
  }

  private async releaseAll(): Promise<void> {
    for (const f of this.fids.drain()) {
      await releaseFid(this.ctx, f).catch((err: Error) => this.opts.log(`9p ${this.name}: release: ${err.message}`));
    }
  }
}
