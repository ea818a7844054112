// makeTree(dir, { 'a/b.txt': 'hi', 'empty/': null }): files and directories for a test.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export async function makeTree(dir: string, tree: Record<string, string | null>): Promise<void> {
  for (const [rel, content] of Object.entries(tree)) {
    const p = join(dir, rel);
    if (content === null || rel.endsWith('/')) await mkdir(p, { recursive: true });
    else {
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, content);
    }
  }
}
