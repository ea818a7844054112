// lib/fuse pieces that need no mount: options, the node table, the attribute
// layout, preflight messages.
import test from 'ava';
import type { Attr } from '../../lib/backend/attr.js';
import { ATTR_SIZE, readSetattr, writeAttr } from '../../lib/fuse/attr-buffer.js';
import { parseMountinfo } from '../../lib/fuse/mountinfo.js';
import { Inode } from '../../lib/backend/inodes.js';
import { Nodes } from '../../lib/fuse/nodes.js';
import { mountSpec } from '../../lib/fuse/mount-spec.js';
import { OptionError, parseMountOptions } from '../../lib/fuse/options.js';
import { checkDevFuse, checkNesting, PreflightError } from '../../lib/fuse/preflight.js';

test('mount options: safe defaults, ours taken out, the kernel\'s passed on', (t) => {
  const d = parseMountOptions([], '/srv/a,b');
  t.is(d.entryTimeout, 1);
  t.is(d.attrTimeout, 1);
  t.is(d.cache, 'auto');
  t.is(d.maxWrite, 1024 * 1024);
  t.deepEqual(mountSpec(d.fuse, d.fsname, 'stableid'), { fsname: '/srv/a,b', fstype: 'fuse.stableid', flags: 2 | 4, data: '', fusermountOpts: 'fsname=/srv/a\\,b,subtype=stableid' });
  const o = parseMountOptions(['allow_other,ro', 'attr_timeout=0.5,kernel_cache,nosuid', 'max_write=65536'], '/s');
  t.true(o.allowOther);
  t.true(o.readOnly);
  t.is(o.attrTimeout, 0.5);
  t.is(o.cache, 'always');
  t.is(o.maxWrite, 65536);
  t.deepEqual(o.fuse, ['allow_other', 'ro', 'nosuid', 'default_permissions']);
  t.deepEqual(mountSpec(o.fuse, o.fsname, 'stableid'), { fsname: '/s', fstype: 'fuse.stableid', flags: 1 | 2 | 4, data: 'allow_other,default_permissions', fusermountOpts: 'allow_other,ro,nosuid,default_permissions,fsname=/s,subtype=stableid' });
  t.is(mountSpec(['dev', 'suid', 'noexec'], '/s', 'stableid').flags, 8, 'dev and suid clear the nodev/nosuid default');
  t.throws(() => parseMountOptions(['frobnicate'], '/s'), { instanceOf: OptionError, message: /unknown mount option -o frobnicate/ });
  t.throws(() => parseMountOptions(['readdirplus=sometimes'], '/s'), { instanceOf: OptionError });
  t.false(parseMountOptions(['nopassthrough'], '/s').passthrough);
  t.false(parseMountOptions(['allow_other,no_default_permissions'], '/s').fuse.includes('default_permissions'));
  t.true(d.exportSupport, 'kernel file handles outlive the server by default (NFS)');
  t.false(parseMountOptions(['noexport'], '/s').exportSupport);
  t.is(parseMountOptions(['max_open_files=500'], '/s').maxOpenFiles, 500);
  t.throws(() => parseMountOptions(['max_open_files=10'], '/s'), { instanceOf: OptionError, message: /max_open_files= needs a count >= 64/ });
  t.false(parseMountOptions(['noexport'], '/s').fuse.includes('noexport'), 'ours, not the kernel\'s');
  t.throws(() => parseMountOptions(['entry_timeout=-1'], '/s'), { instanceOf: OptionError });
  t.throws(() => parseMountOptions(['subtype=x'], '/s'), { instanceOf: OptionError });
});

test('node table: one node per file, lookups counted, the backend reference given back exactly once', (t) => {
  const released: bigint[] = [];
  const inode = (id: bigint) => new Inode(id, 1n, id, 0o100000, -1, undefined);
  const root = inode(2n);
  const nodes = new Nodes(root, (i) => released.push(i.id));
  t.is(nodes.get(1n), nodes.root, 'node id 1 is the root');
  t.is(nodes.root.id, 2n, 'whose id is its stable id');
  const f = inode(11n);
  const a = nodes.lookedUp({ inode: f, attr: {} as Attr });
  t.is(nodes.get(11n), a);
  t.is(nodes.lookedUp({ inode: f, attr: {} as Attr }, 2), a, 'a second name of the same file (a hard link) is the same node');
  t.deepEqual(released, [11n], 'the extra reference went back at once');
  t.is(a.lookups, 3);
  nodes.forget(11n, 2n);
  t.is(nodes.get(11n), a, 'still one lookup left');
  nodes.forget(11n, 1n);
  t.throws(() => nodes.get(11n), { code: 'ESTALE' });
  t.deepEqual(released, [11n, 11n], 'forgotten: the node\'s own reference went back');
  nodes.forget(11n, 1n);
  t.is(released.length, 2, 'a forget for an unknown node is ignored');
  // The file behind a node was deleted and its id went to a new file: the node moves to the new Inode.
  const first = inode(12n);
  const node = nodes.lookedUp({ inode: first, attr: {} as Attr });
  const second = inode(12n);
  t.is(nodes.lookedUp({ inode: second, attr: {} as Attr }), node);
  t.is(node.inode, second);
  t.deepEqual(released.slice(2), [12n], 'the old Inode\'s reference went back');
  t.is(node.lookups, 2);
});

test('attribute layout keeps 64-bit ids, sizes and nanosecond times (also before 1970)', (t) => {
  const attr: Attr = {
    ino: (0xffffn << 48n) | 5n, mode: 0o100644, nlink: 3n, uid: 1000, gid: 1001, rdev: 0n,
    size: 1n << 62n, blksize: 4096n, blocks: 8n,
    atimeNs: -1_500_000_000n, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 5n, btimeNs: 0n,
  };
  const buf = Buffer.alloc(ATTR_SIZE);
  writeAttr(buf, 0, attr);
  t.is(buf.readBigUInt64LE(0), attr.ino);
  t.is(buf.readBigInt64LE(24), -2n, 'atime seconds floor');
  t.is(buf.readUInt32LE(64), 500_000_000);
  const back = readSetattr(buf);
  t.is(back.size, attr.size);
  t.is(back.atimeNs, attr.atimeNs);
  t.is(back.mtimeNs, attr.mtimeNs);
  t.is(back.mode, attr.mode);
  t.is(back.uid, 1000);
});

test('mountinfo parsing unescapes paths and computes the connection number', (t) => {
  const m = parseMountinfo('36 35 0:38 / /tmp/a\\040b rw,nosuid - fuse.stableid /srv/x rw,user_id=0\n');
  t.deepEqual(m, [{ mountId: '36', majorMinor: '0:38', dev: 38, fsRoot: '/', mountPoint: '/tmp/a b', mountOptions: 'rw,nosuid', fstype: 'fuse.stableid', source: '/srv/x', superOptions: 'rw,user_id=0' }]);
});

test('preflight: a missing /dev/fuse and nested paths give one clear line', async (t) => {
  const err = await t.throwsAsync(checkDevFuse('/nonexistent/fuse'), { instanceOf: PreflightError });
  t.regex(err!.message, /missing: load the fuse module \(modprobe fuse\)/);
  t.throws(() => checkNesting('/a', '/a/b'), { message: /inside the source/ });
  t.throws(() => checkNesting('/a/b', '/a'), { message: /inside the mountpoint/ });
  t.notThrows(() => checkNesting('/a', '/ab'));
});
