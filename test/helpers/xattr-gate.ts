// Whether the temp directory takes user xattrs (the id table's home):
// '' when it does, else the skip reason to append to a test's title.
import * as xattr from 'fs-xattr';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function tmpXattrsGate(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'stableid-probe-'));
  try {
    await xattr.setAttribute(d, 'user.stableid.probe', 'x');
    return '';
  } catch (err) {
    return ` (skipped: ${tmpdir()} has no user xattrs: ${(err as Error).message})`;
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}
