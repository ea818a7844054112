// Every T-message the server answers, keyed by message type (as gVisor's
// handlers[MID]). Tversion and Tflush are not here: they act on the
// connection itself and live in session.ts. Anything else gets ENOSYS.
import type { Handler } from './context.js';
import { ioHandlers } from './handlers-io.js';
import { metaHandlers } from './handlers-meta.js';

export const handlers = new Map<number, Handler>([...metaHandlers, ...ioHandlers].map((h) => [h.t.type, h]));

