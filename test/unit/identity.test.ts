import test from 'ava';
import { identify, majorMinor, parseMountinfo } from '../../lib/mapper/identity.js';

const mountinfo = [
  '26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '40 26 7:0 / /srv/data/my\\040disk rw,relatime shared:20 - ext4 /dev/loop0 rw',
  '41 26 0:45 /@home /srv/data/home rw,relatime - btrfs /dev/sdb rw,subvolid=257,subvol=/@home',
  '42 26 0:46 / /srv/data/tmp rw - tmpfs tmpfs rw,size=10k',
  '43 26 7:0 / /elsewhere rw - ext4 /dev/loop0 rw',
].join('\n');

test('mountinfo: escaped names, optional fields, super options', (t) => {
  const m = parseMountinfo(mountinfo);
  t.is(m.length, 5);
  t.like(m[1], { majorMinor: '7:0', mountPoint: '/srv/data/my disk', fstype: 'ext4', source: '/dev/loop0' });
  t.like(m[2], { fsRoot: '/@home', superOptions: 'rw,subvolid=257,subvol=/@home' });
});

test('st_dev to major:minor as glibc encodes it', (t) => {
  t.is(majorMinor(0x0701n), '7:1');
  t.is(majorMinor(65024n), '254:0');
  // glibc makedev(major, minor) for numbers past the old 12/20-bit split
  const makedev = (ma: bigint, mi: bigint) => ((ma & 0xfffn) << 8n) | ((ma & 0xfffff000n) << 32n) | (mi & 0xffn) | ((mi & 0xffffff00n) << 12n);
  t.is(majorMinor(makedev(0x12345n, 0x6789an)), `${0x12345}:${0x6789a}`);
  t.is(majorMinor(makedev(0xfffffffen, 0xfffffffdn)), `${0xfffffffe}:${0xfffffffd}`);
});

test('identity: UUID when blkid reads one, else mount place relative to the export; btrfs adds the subvolume', async (t) => {
  const mounts = parseMountinfo(mountinfo);
  const o = { exportRoot: '/srv/data', rootDev: 0xfe01n, mounts };
  const withUuid = { ...o, probe: async (src: string) => (src === '/dev/loop0' ? { uuid: 'u-1', type: 'ext4' } : src === '/dev/sdb' ? { uuid: 'u-2', type: 'btrfs' } : undefined) };
  t.deepEqual(await identify(0xfe01n, withUuid), { kind: 'root', identity: 'root', alt: 'root' });
  // 7:0 is mounted twice: the mount inside the export is the one named.
  t.deepEqual(await identify(0x0700n, withUuid), { kind: 'uuid', identity: 'uuid:ext4:u-1', alt: 'mount:ext4:/dev/loop0:my disk' });
  t.deepEqual(await identify(0x0700n, { ...o, probe: async () => undefined }), { kind: 'mount', identity: 'mount:ext4:/dev/loop0:my disk', alt: 'mount:ext4:/dev/loop0:my disk' });
  t.deepEqual(await identify(45n, withUuid), { kind: 'uuid', identity: 'uuid:btrfs:u-2:subvol=257:/@home', alt: 'mount:btrfs:/dev/sdb:home:subvol=257:/@home' });
  t.is((await identify(46n, withUuid)).identity, 'mount:tmpfs:tmpfs:tmp');
  t.like(await identify(99n, withUuid), { kind: 'stdev' });
});

test('identity: a device without a mount line is keyed by st_dev and boot id, so another boot never inherits its ids', async (t) => {
  const o = { exportRoot: '/srv/data', rootDev: 0xfe01n, mounts: parseMountinfo(mountinfo), probe: async () => undefined };
  const a = await identify(99n, { ...o, bootId: async () => 'boot-a' });
  const b = await identify(99n, { ...o, bootId: async () => 'boot-b' });
  t.is(a.kind, 'stdev');
  t.not(a.identity, b.identity, 'the same st_dev number after a reboot is another device');
  t.is(a.identity, (await identify(99n, { ...o, bootId: async () => 'boot-a' })).identity, 'stable within one boot');
});
