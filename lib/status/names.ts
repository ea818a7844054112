// Request names for the counters: FUSE ops as the op table names them, 9P
// messages as the codec's table names them.
import { opName } from '../fuse/op-table.js';
import { byType } from '../ninep/messages.js';

export const fuseOpName = (op: number): string => opName(op) ?? `op${op}`;
export const ninepMessageName = (type: number): string => byType.get(type)?.name ?? `type${type}`;
