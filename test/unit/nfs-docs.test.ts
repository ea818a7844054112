// docs/nfs.md shows the Ganesha EXPORT block the NFS tests run with
// (test/helpers/ganesha.ts exportBlock): keep the two the same.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { exportBlock } from '../helpers/ganesha.js';
import { REPO } from '../helpers/mount-fixture.js';

test('the Ganesha EXPORT block in docs/nfs.md is the one the NFS tests run', async (t) => {
  const doc = await readFile(join(REPO, 'docs/nfs.md'), 'utf8');
  const block = /```\n(EXPORT \{[\s\S]*?\n\})\n```/.exec(doc)?.[1];
  t.truthy(block, 'docs/nfs.md has a fenced EXPORT { ... } block');
  t.is(`${block}\n`, exportBlock({ id: 1, path: '/srv/stable', pseudo: '/stable' }));
});
