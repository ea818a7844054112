// startNinepServer(): listen on TCP and/or unix sockets and serve 9P2000.L
// from a Backend. Independent of FUSE: the FUSE mount command and
// `stableid serve-9p` both call it with their backend.
import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Backend } from '../backend/backend.js';
import { isCode } from '../errno.js';
import { DEFAULT_LISTEN, formatListen, type ListenAddr, ListenError, parseListen } from './listen.js';
import { Session } from './session.js';

export interface NinepServerOptions {
  backend: Backend;
  /** One or more of `tcp:HOST:PORT`, `unix:PATH`; default DEFAULT_LISTEN (a 0600 unix socket). Port 0 picks a free port. */
  listen?: string | string[];
  /** Operator-facing messages (connection errors, refused frames). Default: none. */
  log?: (line: string) => void;
  /** Largest msize offered in Rversion (default 4 MiB: the Linux TCP client takes up to 1 MiB, diod caps at 64 KiB). */
  maxMsize?: number;
  /** The export's path on this host, accepted as Tattach aname (diod's clients send one). */
  exportPath?: string;
  /** Called with each request's message type (for `stableid status`; must be cheap). */
  onRequest?: (type: number) => void;
}

export interface NinepServer {
  /** Where it listens, port 0 resolved (`tcp:127.0.0.1:40123`). */
  readonly addresses: string[];
  /** Stop listening, close every connection and release their open files. */
  close(): Promise<void>;
  /** Open connections and the fids they hold right now. */
  connections(): { connections: number; fids: number };
}

export const DEFAULT_MAX_MSIZE = 4 << 20;

export async function startNinepServer(opts: NinepServerOptions): Promise<NinepServer> {
  const log = opts.log ?? (() => undefined);
  const sessions = new Set<Session>();
  const sessionOpts = {
    backend: opts.backend,
    maxMsize: opts.maxMsize ?? DEFAULT_MAX_MSIZE,
    exportPath: opts.exportPath,
    log,
    onRequest: opts.onRequest,
  };
  const addrs = (Array.isArray(opts.listen) ? opts.listen : [opts.listen ?? DEFAULT_LISTEN]).map(parseListen);
  const servers: { server: Server; addr: ListenAddr }[] = [];
  let n = 0;
  try {
    for (const addr of addrs) {
      const server = createServer({ noDelay: true }, (socket: Socket) => {
        const s = new Session(socket, sessionOpts, `#${++n}`);
        sessions.add(s);
        socket.on('close', () => sessions.delete(s));
      });
      servers.push({ server, addr: await listenOn(server, addr) });
    }
  } catch (err) {
    await Promise.all(servers.map((s) => closeServer(s.server, s.addr)));
    throw err;
  }
  return {
    addresses: servers.map((s) => formatListen(s.addr)),
    async close() {
      for (const s of sessions) s.close();
      await Promise.all(servers.map((s) => closeServer(s.server, s.addr)));
    },
    connections: () => ({ connections: sessions.size, fids: [...sessions].reduce((n, s) => n + s.fids.size, 0) }),
  };
}

async function listenOn(server: Server, addr: ListenAddr): Promise<ListenAddr> {
  if (addr.kind === 'unix') await removeStaleSocket(addr.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError(`cannot listen on ${formatListen(addr)}: ${err.message}`)));
    if (addr.kind === 'unix') server.listen(addr.path, resolve);
    else server.listen(addr.port, addr.host, resolve);
  });
  // 9P has no authentication: whoever can connect acts with this process's
  // rights on the export. A unix socket is for its owner only; widen it with chmod if you mean to.
  if (addr.kind === 'unix') await chmod(addr.path, 0o600);
  const bound = server.address();
  return addr.kind === 'tcp' && bound && typeof bound === 'object' ? { ...addr, port: bound.port } : addr;
}

/**
 * A socket file left by a killed server blocks listen(): remove it, but only
 * when nothing answers on it (a live server's socket is refused, not stolen)
 * and only if it is a socket (anything else at that path is not ours).
 */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!(await lstat(path)).isSocket()) return; // listen() then fails with EADDRINUSE, naming the path
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw err;
  }
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (live) throw new ListenError(`cannot listen on unix:${path}: another server is listening there`);
  await unlink(path);
}

function closeServer(server: Server, addr: ListenAddr): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if (addr.kind === 'unix') void unlink(addr.path).catch(() => undefined);
  });
}
