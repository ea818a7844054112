// What a handler sees: the backend, its connection's fids and limits.
import type { Backend } from '../backend/backend.js';
import type { MsgDef, ValueOf } from './messages.js';
import type { FidTable } from './fids.js';

export interface Ctx {
  backend: Backend;
  fids: FidTable;
  /** Negotiated msize: Rread/Rreaddir payloads are capped to fit it. */
  msize: number;
  /** Export root path, accepted as Tattach aname besides '' and '/'. */
  exportPath?: string;
}

export interface Handler {
  t: MsgDef;
  r: MsgDef;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run(v: any, c: Ctx): Promise<any>;
}

/** One handler: its request and reply descriptions type-check what it takes and returns. */
export function on<T extends MsgDef, R extends MsgDef>(
  t: T,
  r: R,
  run: (v: ValueOf<T['fields']>, c: Ctx) => Promise<ValueOf<R['fields']>>,
): Handler {
  return { t, r, run };
}
