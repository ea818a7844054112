# The stale readdirplus entry (issue 8), FUSE only, no access to SRC:
#   setup PLAY NVICTIMS NAMES  a directory with many entries and victim dirs
#                              v00.. each holding the user's own files NAMES
#   try PLAY VICTIM TARGET     hold the victim dir open, read the first page of
#                              PLAY's listing (the server snapshots it), rename
#                              the victim away and put a symlink to TARGET (a
#                              root-owned directory outside SRC) in its place,
#                              read the rest of the listing (the stale entry
#                              for the old name), then act on the victim's node.
import os, sys

mode, play = sys.argv[1], sys.argv[2]
PAD = 'x' * 40  # long names: fewer entries per 4 KiB READDIRPLUS page

if mode == 'setup':
    nvictims, names = int(sys.argv[3]), sys.argv[4].split(',')
    os.mkdir(play, 0o755)
    for i in range(300):
        create_at(f'{play}/fill-{i:03d}-{PAD}')
    for v in range(nvictims):
        d = f'{play}/v{v:02d}'
        os.mkdir(d, 0o755)
        for n in names:
            with open(f'{d}/{n}', 'w') as f:
                f.write('the hostile user\'s own file\n')
        create_at(f'{play}/mine-{v:02d}')
    note('order', os.listdir(play))
    finish()
    sys.exit(0)

victim, target = sys.argv[3], sys.argv[4]
vdir = f'{play}/{victim}'
for n in os.listdir(vdir):
    os.stat(f'{vdir}/{n}')  # the kernel now holds a node for each of them
vfd = os.open(vdir, os.O_RDONLY | os.O_DIRECTORY)
dfd = os.open(play, os.O_RDONLY | os.O_DIRECTORY)
first = getdents(dfd, 512)  # one READDIRPLUS at offset 0: the server's snapshot
note('first', len(first))
note('victim_in_first', victim in first)
os.rename(vdir, f'{vdir}.away')
os.symlink(target, vdir)
rest = []
while True:
    page = getdents(dfd, 1024)
    if not page:
        break
    rest += page
os.close(dfd)
note('rest', len(rest))
note('victim_in_rest', victim in rest)

# Everything below acts on the victim's node (through the held descriptor),
# which must still be the user's own directory, now named VICTIM.away.
at = f'/proc/self/fd/{vfd}'
attempt('read', read_at, 'read', vfd)
attempt('write', write_at, 'write', b'written by the hostile client\n', vfd)
attempt('chmod', lambda: os.chmod(f'{at}/chmod', 0o4777))
attempt('utime', lambda: os.utime(f'{at}/utime', ns=(0, 0)))
attempt('xattr', lambda: os.setxattr(f'{at}/xattr', 'user.hostile', b'1'))
attempt('truncate', lambda: os.truncate(f'{at}/truncate', 0))
attempt('unlink', lambda: os.unlink('unlink', dir_fd=vfd))
attempt('rename', lambda: os.rename(f'{play}/mine-{victim[1:]}', 'rename', dst_dir_fd=vfd))
attempt('create', create_at, 'created-by-hostile', vfd)
attempt('mkdir', lambda: os.mkdir('mkdir-by-hostile', dir_fd=vfd))
finish()
