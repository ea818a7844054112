# ACL scenario of test/integration/fuse-posix-acl.test.ts, run on a raw
# directory and on the mount: `sh fuse-posix-acl.sh setup DIR` as root, then
# `sh fuse-posix-acl.sh user DIR` as uid 4322 (groups 4322,4400). Prints what
# it saw; nothing in it may differ between the two directories.
set -u
cd "$2"
show() { printf '%s %s | %s\n' "$1" "$(stat -c %A "$1")" "$(getfacl -cp "$1" 2>&1 | tr '\n' ' ')"; }
if [ "$1" = setup ]; then
  touch rootfile && chmod 640 rootfile && setfacl -m u:4322:rw rootfile   # only the named entry lets 4322 in
  mkdir shared && chmod 2775 shared && chown 0:4400 shared
  setfacl -d -m u::rwx,g::rwx,o::rx shared                                # a default ACL: umask does not apply
  touch theirs && chown 4322:5555 theirs && chmod 2770 theirs             # owner 4322 is not in group 5555
  exit 0
fi
umask 022
echo "read rootfile: $(cat rootfile 2>&1 >/dev/null && echo ok)"
echo "write rootfile: $( (echo x >> rootfile) 2>&1 && echo ok)"
touch f && chmod 640 f
setfacl -m u:4323:rwx f && show f                    # mask rwx: the group bits show rwx
setfacl -m g::rwx f && show f
chmod 750 f && show f                                # chmod sets the mask
setfacl -b f && show f
touch g && chmod 644 g && setfacl -m g::rwx g && show g   # minimal ACL: only the mode changes
mkdir shared/sub shared/sub2 && touch shared/file && show shared/sub && show shared/file
(umask 077 && mkdir shared/tight && mkdir plain) && show shared/tight && show plain
mkdir nodefault && touch nodefault/file && show nodefault && show nodefault/file
mknod shared/fifo p && show shared/fifo
setfacl -m o::r theirs && show theirs                # not in the file's group: setgid is dropped
