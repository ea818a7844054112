// The status socket: a serving process answers every connection with one
// JSON snapshot and closes it; it reads nothing from the client. The sockets
// are abstract Unix sockets (like the export lock in lib/table/lock.ts): the
// kernel removes them when the process dies, so a name that answers belongs
// to a live server, and nothing is left on disk.
//
// Two names lead to the same server: one per export root (st_dev:st_ino, as
// the lock), for `stableid status SRC`, and one per mountpoint path, for
// `stableid status MNT`. Abstract sockets have no permissions: anyone in the
// network namespace may read the snapshot, which holds paths, options and
// counters (what /proc/self/mountinfo already shows), never file contents.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import type { StatusSnapshot } from './snapshot.js';

export function exportStatusName(dev: bigint, ino: bigint): string {
  return `\0stableid/status/export/${dev}:${ino}`;
}

export function mountStatusName(mountpoint: string): string {
  return `\0stableid/status/mount/${createHash('sha256').update(mountpoint).digest('hex')}`;
}

/** The names a server of SRC (mounted at MNT, if it mounts) answers on. */
export async function statusNames(src: string, mnt?: string): Promise<string[]> {
  const root = await stat(src, { bigint: true });
  return [...(mnt ? [mountStatusName(mnt)] : []), exportStatusName(root.dev, root.ino)];
}

export interface StatusServer {
  close(): Promise<void>;
}

/**
 * Answers on each name it can take. A name already taken (another process
 * serving the same mountpoint path in another mount namespace) is reported
 * through warn and skipped: status is an aid, never a reason to stop serving.
 */
export async function serveStatus(names: string[], snapshot: () => StatusSnapshot, warn: (msg: string) => void): Promise<StatusServer> {
  const servers: Server[] = [];
  for (const name of names) {
    const server = createServer((sock) => {
      sock.on('error', () => undefined); // a client that hangs up early is not our problem
      let text: string;
      try {
        text = `${JSON.stringify(snapshot())}\n`;
      } catch (err) {
        text = `${JSON.stringify({ error: (err as Error).message })}\n`;
      }
      sock.end(text);
    });
    server.maxConnections = 16;
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', (err) => {
        warn(`status socket ${name.slice(1)}: ${(err as Error).message}; stableid status will not find this server by that name`);
        resolve(false);
      });
      server.listen({ path: name }, () => resolve(true));
    });
    if (!ok) continue;
    server.unref(); // answering status must not keep a finished process alive
    servers.push(server);
  }
  return { close: () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined) };
}

export class StatusQueryError extends Error {}

/** The snapshot the server at `name` sends; undefined when no process listens there. */
export function queryStatus(name: string, timeoutMs = 5000): Promise<StatusSnapshot | undefined> {
  return new Promise((resolve, reject) => {
    let text = '';
    let failed: Error | undefined;
    const sock = createConnection({ path: name });
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => {
      failed = new StatusQueryError(`the server did not answer within ${timeoutMs} ms (busy or stuck)`);
      sock.destroy();
    });
    sock.on('data', (d: string) => (text += d));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(undefined);
      else failed = err;
    });
    sock.on('close', (hadError) => {
      if (failed) return reject(failed);
      if (hadError) return; // resolved in 'error'
      try {
        const parsed = JSON.parse(text) as StatusSnapshot & { error?: string };
        if (parsed.error) reject(new StatusQueryError(`the server could not describe itself: ${parsed.error}`));
        else resolve(parsed);
      } catch {
        reject(new StatusQueryError(`the server sent something that is not a status (${JSON.stringify(text.slice(0, 80))})`));
      }
    });
  });
}
