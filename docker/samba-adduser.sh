#!/bin/sh
# Add a Samba user whose Unix account survives recreating the Samba container:
# the passwd and group lines go to /var/lib/extrausers (a volume, read through
# libnss-extrausers), the password to Samba's passdb in /var/lib/samba (a volume).
#
#   samba-adduser [-s] NAME UID [GID]
#
# UID (and GID, default UID) must be the owner's numbers on the host's files:
# the stableid mount checks permissions as that uid (allow_other). The password
# is asked by smbpasswd; with -s it reads it twice from stdin.
set -eu
usage='usage: samba-adduser [-s] NAME UID [GID]'
silent=
if [ "${1:-}" = -s ]; then silent=-s; shift; fi
name=${1:?$usage}
uid=${2:?$usage}
gid=${3:-$uid}
dir=/var/lib/extrausers
case "$name" in
  -* | *[!A-Za-z0-9_.-]*) echo "samba-adduser: bad user name '$name' (letters, digits, _ . -)" >&2; exit 2 ;;
esac
case "$uid:$gid" in
  *[!0-9:]* | :* | *:) echo "samba-adduser: UID and GID must be numbers ($usage)" >&2; exit 2 ;;
esac
mkdir -p "$dir"
touch "$dir/passwd" "$dir/group"
if grep -q "^$name:" "$dir/passwd"; then
  :  # already made here: only the password changes
elif getent passwd "$name" >/dev/null; then
  echo "samba-adduser: $name is a system account of the image; choose another name" >&2
  exit 2
else
  getent group "$gid" >/dev/null || echo "$name:x:$gid:" >>"$dir/group"
  echo "$name:x:$uid:$gid:Samba user:/nonexistent:/usr/sbin/nologin" >>"$dir/passwd"
fi
exec smbpasswd -a $silent "$name"
