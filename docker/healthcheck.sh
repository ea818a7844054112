#!/bin/sh
# Container health check, for the stableid sidecar and for the Samba container
# that shares its mount (no node needed: plain sh, awk and stat).
#
#   healthcheck.sh MNT [--shared] [--smb-port PORT]
#
# Healthy (exit 0) when MNT is a FUSE mount in this container's mount
# namespace, answers stat within 5 seconds, with --shared propagates out of
# this container, and with --smb-port something listens on that TCP port.
# Unhealthy (exit 1, the reason on stdout, which `docker inspect` shows) when
# the mount is gone, dead ("Transport endpoint is not connected" after the
# sidecar died) or hung: a Samba share over an empty mountpoint directory
# would otherwise serve an empty share with other ids.
#
# --shared is for the sidecar: a mount made under a bind without rshared
# propagation stays in the sidecar, and Samba would serve the empty
# directory under it. What this container cannot see: whether the host side
# of the bind is shared. Docker refuses an rshared bind of a directory that is
# not on a shared mount; podman makes it shared inside the container only, and
# then only the Samba container's own check (and its root preexec) tells.
set -u
usage='usage: healthcheck.sh MNT [--shared] [--smb-port PORT]'
MNT=${1:?$usage}
shift
SHARED=
PORT=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --shared) SHARED=1; shift ;;
    --smb-port) PORT=${2:?--smb-port needs a port number}; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

unhealthy() { echo "unhealthy: $*"; exit 1; }

# The top mount at MNT: "major:minor fstype propagation" from
# /proc/self/mountinfo, propagation "shared" when the optional fields
# (7 up to "-") have shared:N.
want=$(printf '%s' "$MNT" | sed 's/\\/\\134/g; s/ /\\040/g; s/	/\\011/g')
mount=$(awk -v m="$want" '$5 == m {
  p = "private"
  for (i = 7; i <= NF && $i != "-"; i++) if ($i ~ /^shared:/) p = "shared"
  t = $3 " " $(i + 1) " " p
} END { print t }' /proc/self/mountinfo)
[ -n "$mount" ] || unhealthy "$MNT is not mounted (is the stableid sidecar running, and its host directory bound rshared here, rslave in Samba?)"
majmin=${mount%% *}
rest=${mount#* }
fstype=${rest% *}
case "$fstype" in
  fuse | fuse.*) ;;
  *) unhealthy "$MNT is a $fstype mount, not the stableid FUSE mount" ;;
esac
dev=$(timeout 5 stat -c '%Hd:%Ld' "$MNT/." 2>/dev/null) || unhealthy "$MNT does not answer stat within 5 s (dead or hung FUSE mount)"
# stat must have reached that mount, not the directory under it (the mount
# can go away between reading mountinfo and stat).
[ "$dev" = "$majmin" ] || unhealthy "$MNT changed while checking (device $dev, mount $majmin)"
[ -z "$SHARED" ] || [ "${rest##* }" = shared ] ||
  unhealthy "$MNT is not a shared mount, so neither the host nor Samba sees it: bind the host directory that contains it with rshared propagation"

if [ -n "$PORT" ]; then
  hex=$(printf '%04X' "$PORT")
  # /proc/net/tcp{,6}: local_address is ADDR:PORT in hex, state 0A is LISTEN.
  awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { ok = 1 } END { exit !ok }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null || unhealthy "nothing listens on TCP port $PORT (smbd down?)"
fi
echo "healthy: $MNT ($fstype${SHARED:+, shared})${PORT:+, port $PORT listening}"
