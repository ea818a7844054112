// Tests name files by path; the backend takes Inodes. attrAt walks a path
// from the root one name at a time, as a front-end would.
import type { Attr } from '../../lib/backend/attr.js';
import type { Backend } from '../../lib/backend/backend.js';

export async function attrAt(backend: Backend, path: string): Promise<Attr> {
  let cur = backend.hold(backend.root);
  try {
    for (const name of path.split('/').filter(Boolean)) {
      const e = await backend.lookup(cur, name);
      backend.forget(cur);
      cur = e.inode;
    }
    return await backend.getattr(cur);
  } finally {
    backend.forget(cur);
  }
}
