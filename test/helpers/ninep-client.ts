// A small 9P2000.L client for tests: speaks through the same codec as the
// server, matches answers to tags, and turns Rlerror into NinepError.
import { connect, type Socket } from 'node:net';
import { decode, encode } from '../../lib/ninep/codec.js';
import * as M from '../../lib/ninep/messages.js';
import type { MsgDef, ValueOf } from '../../lib/ninep/messages.js';
import type { Qid } from '../../lib/ninep/types.js';

export class NinepError extends Error {
  constructor(
    readonly ecode: number,
    what: string,
  ) {
    super(`${what}: Rlerror ${ecode}`);
  }
}

type Pending = { resolve: (f: { def: MsgDef; value: Record<string, unknown> }) => void; reject: (e: Error) => void };

export class NinepClient {
  private nextTag = 1;
  private readonly pending = new Map<number, Pending>();
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closedErr: Error | undefined;
  msize = 0;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.closedErr = new Error('connection closed');
        for (const p of this.pending.values()) p.reject(this.closedErr);
        this.pending.clear();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  /** `unix:PATH` or `tcp:HOST:PORT` (as startNinepServer reports it). */
  static connect(address: string): Promise<NinepClient> {
    return new Promise((resolve, reject) => {
      const m = /^tcp:\[?([^\]]*)\]?:(\d+)$/.exec(address);
      const s = address.startsWith('unix:') ? connect(address.slice(5)) : connect(Number(m![2]), m![1]);
      s.once('connect', () => resolve(new NinepClient(s)));
      s.once('error', reject);
    });
  }

  /** Tversion + Tattach of fid 0: a session ready for walks. */
  static async attached(address: string, msize = 1 << 20): Promise<NinepClient> {
    const c = await NinepClient.connect(address);
    await c.version(msize);
    await c.rpc(M.Tattach, { fid: 0, afid: M.NOFID, uname: 'root', aname: '', n_uname: 0 });
    return c;
  }

  async version(msize: number, version = '9P2000.L'): Promise<{ msize: number; version: string }> {
    const r = await this.send(M.Tversion, { msize, version }, M.NOTAG);
    this.msize = r.value.msize as number;
    return r.value as { msize: number; version: string };
  }

  /** Send a T-message, resolve with the R-message's fields; Rlerror rejects with NinepError. */
  async rpc<T extends MsgDef>(def: T, value: ValueOf<T['fields']>): Promise<Record<string, any>> {
    const r = await this.send(def, value);
    if (r.def === M.Rlerror) throw new NinepError(r.value.ecode as number, def.name);
    if (r.def.type !== def.type + 1) throw new Error(`${def.name} answered with ${r.def.name}`);
    return r.value;
  }

  /** The errno an operation fails with (fails the test if it succeeds). */
  async errno<T extends MsgDef>(def: T, value: ValueOf<T['fields']>): Promise<number> {
    try {
      await this.rpc(def, value);
    } catch (err) {
      if (err instanceof NinepError) return err.ecode;
      throw err;
    }
    throw new Error(`${def.name} succeeded, expected an error`);
  }

  send<T extends MsgDef>(def: T, value: ValueOf<T['fields']>, tag = this.allocTag()): Promise<{ def: MsgDef; value: Record<string, any> }> {
    return this.sendRaw(encode(def, tag, value), tag);
  }

  /** Any bytes, answered by tag (for malformed-input tests). */
  sendRaw(frame: Buffer, tag: number): Promise<{ def: MsgDef; value: Record<string, any> }> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    return new Promise((resolve, reject) => {
      this.pending.set(tag, { resolve, reject });
      this.socket.write(frame);
    });
  }

  allocTag(): number {
    const t = this.nextTag;
    this.nextTag = (this.nextTag % 0xfffe) + 1;
    return t;
  }

  close(): void {
    this.socket.destroy();
  }

  // Convenience wrappers used across tests.
  async walk(fid: number, newfid: number, ...wnames: string[]) {
    return (await this.rpc(M.Twalk, { fid, newfid, wnames })).wqids as Qid[];
  }
  async clunk(fid: number): Promise<void> {
    await this.rpc(M.Tclunk, { fid });
  }
  async getattr(fid: number) {
    return this.rpc(M.Tgetattr, { fid, request_mask: M.GETATTR_BASIC });
  }
  /** Whole file through Tread, count bytes a request. */
  async readAll(fid: number, count = this.msize - 11): Promise<Buffer> {
    const parts: Buffer[] = [];
    let off = 0n;
    for (;;) {
      const { data } = await this.rpc(M.Tread, { fid, offset: off, count });
      if (data.length === 0) return Buffer.concat(parts);
      parts.push(Buffer.from(data));
      off += BigInt(data.length);
    }
  }
  /** Every entry of an opened directory: name -> { qid, type }. */
  async readdirAll(fid: number): Promise<Map<string, { qid: { type: number; path: bigint }; type: number }>> {
    const out = new Map<string, { qid: { type: number; path: bigint }; type: number }>();
    let offset = 0n;
    for (;;) {
      const { data } = (await this.rpc(M.Treaddir, { fid, offset, count: 8192 })) as { data: Buffer };
      if (data.length === 0) return out;
      let i = 0;
      while (i < data.length) {
        const qid = { type: data.readUInt8(i), path: data.readBigUInt64LE(i + 5) };
        offset = data.readBigUInt64LE(i + 13);
        const type = data.readUInt8(i + 21);
        const len = data.readUInt16LE(i + 22);
        out.set(data.toString('utf8', i + 24, i + 24 + len), { qid, type });
        i += 24 + len;
      }
    }
  }

  private onData(d: Buffer): void {
    // Chunks are kept until a whole frame is there, then joined once (a 1 MiB
    // Rread arrives in many socket chunks; joining on every chunk is quadratic).
    this.chunks.push(d);
    this.buffered += d.length;
    while (this.buffered >= 4) {
      if (this.chunks[0]!.length < 4) this.chunks = [Buffer.concat(this.chunks)];
      const size = this.chunks[0]!.readUInt32LE(0);
      if (this.buffered < size) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      const frame = all.subarray(0, size);
      this.chunks = all.length > size ? [all.subarray(size)] : [];
      this.buffered -= size;
      const f = decode(frame);
      const p = this.pending.get(f.tag);
      this.pending.delete(f.tag);
      p?.resolve({ def: f.def, value: f.value });
    }
  }
}
