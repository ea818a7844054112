#!/bin/sh
# Container health check, for the stableid sidecar and for the Samba container
# that shares its mount (no node needed: plain sh, awk and stat).
#
#   healthcheck.sh MNT [--smb-port PORT]
#
# Healthy (exit 0) when MNT is a FUSE mount in this container's mount
# namespace, answers stat within 5 seconds, and (with --smb-port) something
# listens on that TCP port. Unhealthy (exit 1, the reason on stdout, which
# `docker inspect` shows) when the mount is gone, dead ("Transport endpoint is
# not connected" after the sidecar died) or hung: a Samba share over an empty
# mountpoint directory would otherwise serve an empty share with other ids.
set -u
MNT=${1:?usage: healthcheck.sh MNT [--smb-port PORT]}
PORT=
[ "${2:-}" = --smb-port ] && PORT=${3:?--smb-port needs a port number}

unhealthy() { echo "unhealthy: $*"; exit 1; }

want=$(printf '%s' "$MNT" | sed 's/\\/\\134/g; s/ /\\040/g; s/	/\\011/g')
# The top mount at MNT: "major:minor fstype" from /proc/self/mountinfo.
top() {
  awk -v m="$want" '{ for (i = 7; i <= NF; i++) if ($i == "-") break } $5 == m { t = $3 " " $(i + 1) } END { print t }' /proc/self/mountinfo
}
mount=$(top)
[ -n "$mount" ] || unhealthy "$MNT is not mounted (is the stableid sidecar running, and the bind mount rshared/rslave?)"
fstype=${mount#* }
case "$fstype" in
  fuse | fuse.*) ;;
  *) unhealthy "$MNT is a $fstype mount, not the stableid FUSE mount" ;;
esac
dev=$(timeout 5 stat -c '%Hd:%Ld' "$MNT/." 2>/dev/null) || unhealthy "$MNT does not answer stat within 5 s (dead or hung FUSE mount)"
# stat must have reached that mount, not the directory under it (the mount
# can go away between reading mountinfo and stat).
[ "$dev" = "${mount%% *}" ] || unhealthy "$MNT changed while checking (device $dev, mount ${mount%% *})"

if [ -n "$PORT" ]; then
  hex=$(printf '%04X' "$PORT")
  # /proc/net/tcp{,6}: local_address is ADDR:PORT in hex, state 0A is LISTEN.
  awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { ok = 1 } END { exit !ok }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null || unhealthy "nothing listens on TCP port $PORT (smbd down?)"
fi
echo "healthy: $MNT ($fstype)${PORT:+, port $PORT listening}"
