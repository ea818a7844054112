// Listen addresses: `tcp:HOST:PORT` (HOST may be [v6]) and `unix:PATH`.

export type ListenAddr = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * A unix socket (created 0600): 9P has no authentication, and every local
 * user can reach a loopback TCP port. Name a tcp: address to serve a VM.
 */
export const DEFAULT_LISTEN = 'unix:/run/stableid-9p.sock';

export class ListenError extends Error {
  override name = 'ListenError';
}

export function parseListen(addr: string): ListenAddr {
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (!path) throw new ListenError(`listen address ${JSON.stringify(addr)}: unix: needs a socket path (unix:/run/stableid.9p)`);
    return { kind: 'unix', path };
  }
  const m = /^tcp:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[3]) > 65535) {
    throw new ListenError(`listen address ${JSON.stringify(addr)}: expected tcp:HOST:PORT (tcp:127.0.0.1:5640, tcp:[::1]:5640) or unix:PATH`);
  }
  // An empty host means loopback, not every interface: exposing the export takes an explicit address.
  return { kind: 'tcp', host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

export function formatListen(a: ListenAddr): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `tcp:${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

