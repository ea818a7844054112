// Client-side views of a mount, taken in a python3 child (with a timeout):
// st_ino from lstat, d_ino from the directory listing (os.scandir gives the
// kernel's d_ino without a stat), and kernel file handles (name_to_handle_at).
// Numbers travel as decimal strings so 64-bit values stay exact.
import { runOk } from './run.js';

const TREE = String.raw`
import os, sys, json
root = sys.argv[1]
out = {'': {'ino': str(os.lstat(root).st_ino), 'dino': None, 'type': 'dir'}}
def walk(rel):
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        for e in it:
            p = os.path.join(rel, e.name) if rel else e.name
            st = os.lstat(os.path.join(root, p))
            kind = 'dir' if e.is_dir(follow_symlinks=False) else 'link' if e.is_symlink() else 'file'
            out[p] = {'ino': str(st.st_ino), 'dino': str(e.inode()), 'type': kind, 'nlink': st.st_nlink}
            if kind == 'dir':
                walk(p)
walk('')
print(json.dumps(out))
`;

const HANDLES = String.raw`
import ctypes, os, sys, json
libc = ctypes.CDLL(None, use_errno=True)
class FH(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int), ('f_handle', ctypes.c_ubyte * 128)]
out = {}
for p in sys.argv[1:]:
    fh = FH(); fh.handle_bytes = 128; mnt_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, p.encode(), ctypes.byref(fh), ctypes.byref(mnt_id), 0) != 0:
        out[p] = {'error': os.strerror(ctypes.get_errno())}
    else:
        out[p] = {'type': fh.handle_type, 'hex': bytes(fh.f_handle[:fh.handle_bytes]).hex()}
print(json.dumps(out))
`;

export interface TreeEntry {
  ino: bigint;
  /** d_ino as the parent's listing reported it (undefined for the root). */
  dino: bigint | undefined;
  type: 'dir' | 'file' | 'link';
  nlink?: number;
}

/** Every path under root ('' is root itself) with its st_ino and d_ino. */
export async function probeTree(root: string): Promise<Map<string, TreeEntry>> {
  const raw = JSON.parse(await runOk('python3', ['-c', TREE, root], { timeoutMs: 60_000 })) as Record<string, { ino: string; dino: string | null; type: TreeEntry['type']; nlink?: number }>;
  return new Map(Object.entries(raw).map(([p, e]) => [p, { ino: BigInt(e.ino), dino: e.dino === null ? undefined : BigInt(e.dino), type: e.type, nlink: e.nlink }]));
}

/** name_to_handle_at for each path: the handle bytes in hex, or the error. */
export async function fileHandles(paths: string[]): Promise<Record<string, { type?: number; hex?: string; error?: string }>> {
  return JSON.parse(await runOk('python3', ['-c', HANDLES, ...paths], { timeoutMs: 30_000 }));
}
