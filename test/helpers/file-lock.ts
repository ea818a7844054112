// A lock across test processes (ava runs files in parallel workers, and other
// runs may share the machine): an atomic mkdir holding the owner's pid; a
// lock whose owner is dead is taken over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function withFileLock<T>(lock: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
      if (owner && !alive(owner)) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${lock} held by pid ${owner || '?'} for ${Math.round(waitMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
