// One writer per export. The lock is a Linux abstract-namespace Unix socket
// named after the export root's (st_dev, st_ino): the kernel releases it the
// moment the holder dies, even by kill -9, so a stale lock cannot exist and
// nothing is left on disk (a read-only root needs no lock file either). A pid
// file would need liveness checks and pid-reuse guards to reach the same.
// Limit: abstract sockets are per network namespace; two containers with
// separate network namespaces sharing one export are not kept apart.
import { createConnection, createServer, type Server } from 'node:net';

export class ExportLockedError extends Error {
  readonly code = 'EBUSY';
  readonly exitCode = 1;
  constructor(
    readonly root: string,
    readonly holder: string,
  ) {
    super(`${root} is already served by another stableid (${holder}); stop it first, only one process may write an export's table (for a second view of the same files, bind-mount the first one's mountpoint: mount --bind MOUNTPOINT DIR; findmnt -t fuse.stableid lists it)`);
    this.name = 'ExportLockedError';
  }
}

export interface ExportLock {
  release(): Promise<void>;
}

export function lockName(dev: bigint, ino: bigint): string {
  return `\0stableid/export/${dev}:${ino}`;
}

export async function lockExport(root: string, dev: bigint, ino: bigint): Promise<ExportLock> {
  const name = lockName(dev, ino);
  const server: Server = createServer((sock) => sock.end(`pid ${process.pid}`));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: name }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    throw new ExportLockedError(root, await askHolder(name));
  }
  server.unref(); // holding the lock must not keep a finished process alive
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Who holds it: the holder answers with its pid. */
function askHolder(name: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const sock = createConnection({ path: name });
    const done = () => resolve(text.trim() || 'pid unknown');
    sock.setTimeout(1000, () => sock.destroy());
    sock.on('data', (d) => (text += d.toString('utf8')));
    sock.on('close', done);
    sock.on('error', () => undefined);
  });
}

/** True when some process holds the export's lock right now. */
export async function isLocked(dev: bigint, ino: bigint): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: lockName(dev, ino) });
    let text = '';
    sock.setTimeout(1000, () => sock.destroy());
    sock.on('data', (d) => (text += d.toString('utf8')));
    sock.on('close', () => resolve(text ? text.trim() : undefined));
    sock.on('error', () => resolve(undefined));
  });
}
