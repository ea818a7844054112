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
fstype=$(awk -v m="$want" '{ for (i = 7; i <= NF; i++) if ($i == "-") break } $5 == m { t = $(i + 1) } END { print t }' /proc/self/mountinfo)
[ -n "$fstype" ] || unhealthy "$MNT is not mounted (is the stableid sidecar running, and the bind mount rshared/rslave?)"
case "$fstype" in
  fuse | fuse.*) ;;
  *) unhealthy "$MNT is a $fstype mount, not the stableid FUSE mount" ;;
esac
timeout 5 stat -c %i "$MNT/." >/dev/null 2>&1 || unhealthy "$MNT does not answer stat within 5 s (dead or hung FUSE mount)"

if [ -n "$PORT" ]; then
  hex=$(printf '%04X' "$PORT")
  # /proc/net/tcp{,6}: local_address is ADDR:PORT in hex, state 0A is LISTEN.
  awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { ok = 1 } END { exit !ok }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null || unhealthy "nothing listens on TCP port $PORT (smbd down?)"
fi
echo "healthy: $MNT ($fstype)${PORT:+, port $PORT listening}"
