// A 9P server over a temporary source tree, on a unix socket in the same
// temp dir, torn down with the test.
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { PassthroughBackend } from '../../lib/backend/passthrough.js';
import { type NinepServer, startNinepServer } from '../../lib/ninep/server.js';
import { FakeMapper } from './fake-mapper.js';
import { NinepClient } from './ninep-client.js';

export interface NinepFixture {
  /** The export (source directory). */
  src: string;
  backend: PassthroughBackend;
  server: NinepServer;
  address: string;
  /** A client after Tversion and Tattach (fid 0 is the root). */
  client: NinepClient;
}

export async function makeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    if (rel.endsWith('/')) await mkdir(p, { recursive: true });
    else {
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, content);
    }
  }
}

export async function ninepFixture(t: ExecutionContext, files: Record<string, string> = {}, log?: (l: string) => void): Promise<NinepFixture> {
  const base = await mkdtemp(join(tmpdir(), 'stableid-9p-'));
  const src = join(base, 'src');
  await mkdir(src);
  await makeTree(src, files);
  const mapper = new FakeMapper((await stat(src, { bigint: true })).dev);
  const backend = await PassthroughBackend.open({ root: src, mapper });
  const server = await startNinepServer({ backend, listen: `unix:${join(base, '9p.sock')}`, exportPath: src, log });
  const address = server.addresses[0]!;
  const client = await NinepClient.attached(address);
  t.teardown(async () => {
    client.close();
    await server.close();
    backend.close();
    await rm(base, { recursive: true, force: true });
  });
  return { src, backend, server, address, client };
}
