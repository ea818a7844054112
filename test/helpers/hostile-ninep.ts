// 9P side of the hostile-client suite: a client whose every request has a
// timeout (a hung server is a finding, not a hung test), and a loop that
// keeps LANES iterations of a trick in flight until a deadline or a count.
import { constants } from 'node:os';
import * as M from '../../lib/ninep/messages.js';
import { NinepClient, NinepError } from './ninep-client.js';
import { rpcWithin } from './hostile-mount.js';

const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export interface LoopReport {
  attempts: number;
  seconds: number;
  /** Outcome of each kind of request: "ok" or the errno name. */
  outcomes: Record<string, Record<string, number>>;
  /** Everything the server sent back as file data (to look for canary contents). */
  read: string[];
}

/** A 9P session whose rpc() rejects after ms without an answer, with fresh fid numbers. */
export class HostileSession {
  private nextFid = 100;
  readonly report: LoopReport = { attempts: 0, seconds: 0, outcomes: {}, read: [] };

  private constructor(readonly client: NinepClient) {}

  static async attach(address: string): Promise<HostileSession> {
    return new HostileSession(await NinepClient.attached(address));
  }

  fid(): number {
    return this.nextFid++;
  }

  rpc<T extends M.MsgDef>(def: T, value: M.ValueOf<T['fields']>): Promise<Record<string, any>> {
    return rpcWithin(this.client, def, value);
  }

  /** rpc() that counts its outcome under `op` and never throws a NinepError (other errors, timeouts included, do throw). */
  async tally<T extends M.MsgDef>(op: string, def: T, value: M.ValueOf<T['fields']>): Promise<Record<string, any> | undefined> {
    const out = (this.report.outcomes[op] ??= {});
    try {
      const r = await this.rpc(def, value);
      out.ok = (out.ok ?? 0) + 1;
      if (def.type === M.Tread.type) this.report.read.push(Buffer.from(r.data as Buffer).toString('latin1'));
      return r;
    } catch (err) {
      if (!(err instanceof NinepError)) throw err;
      const name = errnoNames.get(err.ecode) ?? String(err.ecode);
      out[name] = (out[name] ?? 0) + 1;
      return undefined;
    }
  }

  /** Walk from `from` to a new fid (undefined when the walk failed). */
  async walk(op: string, from: number, ...wnames: string[]): Promise<number | undefined> {
    const fid = this.fid();
    const r = await this.tally(op, M.Twalk, { fid: from, newfid: fid, wnames });
    if (!r) return undefined;
    if ((r.wqids as unknown[]).length !== wnames.length) {
      await this.rpc(M.Tclunk, { fid }).catch(() => undefined);
      return undefined;
    }
    return fid;
  }

  /** Clunk, ignoring a fid the server already dropped. */
  async clunk(fid: number | undefined): Promise<void> {
    if (fid !== undefined) await this.tally('clunk', M.Tclunk, { fid });
  }

  /** body(k) for k = 0, 1, ... with `lanes` in flight, until `seconds` passed or `max` started. */
  async loop(seconds: number, max: number, lanes: number, body: (k: number) => Promise<void>): Promise<LoopReport> {
    const start = Date.now();
    const end = start + seconds * 1000;
    let k = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (k < max && Date.now() < end) await body(k++);
      }),
    );
    this.report.attempts += k;
    this.report.seconds += (Date.now() - start) / 1000;
    return this.report;
  }

  close(): void {
    this.client.close();
  }
}

export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, NONBLOCK: 0o4000, DIRECTORY: 0o200000 } as const;
export const S_IFREG = 0o100000;

const NO_ATTR = { mode: 0, uid: 0, gid: 0, size: 0n, atime_sec: 0n, atime_nsec: 0n, mtime_sec: 0n, mtime_nsec: 0n };

/** The Tsetattr tricks: setuid/setgid mode, truncate, chown, utimes. */
export const SETATTRS: Record<'mode' | 'truncate' | 'chown' | 'utimes', Omit<M.ValueOf<typeof M.Tsetattr.fields>, 'fid'>> = {
  mode: { ...NO_ATTR, valid: M.ATTR.MODE, mode: 0o6777 },
  truncate: { ...NO_ATTR, valid: M.ATTR.SIZE, size: 0n },
  chown: { ...NO_ATTR, valid: M.ATTR.UID | M.ATTR.GID, uid: 65534, gid: 65534 },
  utimes: { ...NO_ATTR, valid: M.ATTR.ATIME | M.ATTR.ATIME_SET | M.ATTR.MTIME | M.ATTR.MTIME_SET, atime_sec: 12345n, mtime_sec: 12345n },
};

/** Through fids walked earlier: read one, write one, then each Tsetattr trick on its own fid. Returns what the read got. */
export async function actOnFids(s: HostileSession, fids: Record<'read' | 'write' | 'chmod' | 'chown' | 'utime' | 'truncate', number>): Promise<string | undefined> {
  let data: string | undefined;
  if (await s.tally('read open', M.Tlopen, { fid: fids.read, flags: O.RDONLY })) {
    const r = await s.tally('read', M.Tread, { fid: fids.read, offset: 0n, count: 4096 });
    if (r) data = Buffer.from(r.data as Buffer).toString();
  }
  if (await s.tally('write open', M.Tlopen, { fid: fids.write, flags: O.WRONLY })) {
    await s.tally('write', M.Twrite, { fid: fids.write, offset: 0n, data: Buffer.from('written through an old fid\n') });
  }
  await s.tally('chmod', M.Tsetattr, { fid: fids.chmod, ...SETATTRS.mode });
  await s.tally('chown', M.Tsetattr, { fid: fids.chown, ...SETATTRS.chown });
  await s.tally('utime', M.Tsetattr, { fid: fids.utime, ...SETATTRS.utimes });
  await s.tally('truncate', M.Tsetattr, { fid: fids.truncate, ...SETATTRS.truncate });
  return data;
}
