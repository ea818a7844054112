// A child-process entry that serves a FUSE mount exactly as `stableid-mount`
// does, but over the in-memory FakeMapper (for front-end tests that must not
// depend on the persistent table): node dist/test/helpers/fuse-server.js SRC MNT [-o OPTS]...
import { stat } from 'node:fs/promises';
import { runMount } from '../../lib/cli/commands/mount.js';
import type { Context } from '../../lib/cli/context.js';
import { processIo, UsageError } from '../../lib/cli/io.js';
import { FakeMapper } from './fake-mapper.js';

const [src, mnt, ...rest] = process.argv.slice(2);
const options: string[] = [];
for (let i = 0; i < rest.length; i++) if (rest[i] === '-o') options.push(rest[++i]);

const stop = new Promise<NodeJS.Signals>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
const ctx: Context = { io: processIo, exitCode: 0, waitForStop: () => stop };
try {
  process.exitCode = await runMount(ctx, { src, mnt, options }, {
    openMapper: async ({ root }) => new FakeMapper((await stat(root, { bigint: true })).dev),
  });
} catch (err) {
  process.stderr.write(`stableid: ${(err as Error).message}\n`);
  process.exitCode = err instanceof UsageError ? err.exitCode : 70;
}
