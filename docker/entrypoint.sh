#!/bin/sh
# The sidecar's PID 1: run stableid-mount in the foreground and make sure the
# mountpoint is released when the container stops or the mount process dies.
#
#   entrypoint.sh [SRC [MNT [stableid-mount options...]]]
#
# SRC and MNT default to $STABLEID_SRC (/data) and $STABLEID_MNT
# (/shared/stable); $STABLEID_OPTIONS, when set, is passed as -o OPTIONS.
# MNT is a directory INSIDE a bind-mounted host directory, never the bind
# itself: stableid cannot mount over a live mount, and a mount made on the
# bind would die with the container (a restart would then have to bind a
# dead mount, which the runtime refuses with ENOTCONN).
# On SIGTERM or SIGINT (docker stop) it passes the signal on; stableid-mount
# unmounts and exits 0, and so does this script. If the mount process dies
# without unmounting, a dead FUSE mount would stay behind on the host and in
# the Samba container ("Transport endpoint is not connected"): this script
# detaches it and exits with the process's status. A dead mount left by a
# container that was killed outright is detached at the next start.
# $STABLEID_MOUNT names the mount program (tests and debugging).
set -u

SRC=${1:-${STABLEID_SRC:-/data}}
MNT=${2:-${STABLEID_MNT:-/shared/stable}}
if [ "$#" -gt 2 ]; then shift 2; else set --; fi
[ -n "${STABLEID_OPTIONS:-}" ] && set -- -o "$STABLEID_OPTIONS" "$@"
MOUNT_CMD=${STABLEID_MOUNT:-stableid-mount}

log() { echo "stableid-entrypoint: $*" >&2; }

# The top mount at $1 now, as "mount_id fstype" ("" when none): from
# /proc/self/mountinfo, octal escapes as the kernel writes them.
top_mount() {
  want=$(printf '%s' "$1" | sed 's/\\/\\134/g; s/ /\\040/g; s/	/\\011/g')
  awk -v m="$want" '{ for (i = 7; i <= NF; i++) if ($i == "-") break } $5 == m { t = $1 " " $(i + 1) } END { print t }' /proc/self/mountinfo
}

# A mount whose server is gone fails stat (ENOTCONN) or hangs.
is_dead() { ! timeout 5 stat "$1/." >/dev/null 2>&1; }

release() {
  fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || {
    log "could not unmount $MNT; unmount it on the host: umount -l <host path of $MNT>"
    return 1
  }
}

[ -d "$SRC" ] || { log "source $SRC is not a directory: bind-mount the data to share there (compose: volumes)"; exit 2; }
[ -c /dev/fuse ] || { log "no /dev/fuse: run the container with --device /dev/fuse --cap-add SYS_ADMIN"; exit 2; }
before=$(top_mount "$MNT")
case "${before#* }" in
  '') ;;
  fuse | fuse.*)
    if is_dead "$MNT"; then
      # Left by a container that was killed (docker kill, OOM): clear it first.
      log "$MNT is still mounted from an earlier run; detaching it"
      release || exit 1
      before=$(top_mount "$MNT")
    fi ;; # a live one: the mount program refuses it and says whose it is
  *)
    log "$MNT is itself a ${before#* } mount (a bind?): bind the host directory that contains it, e.g. -v /srv/stableid:$(dirname "$MNT"):rshared"
    exit 2 ;;
esac
mkdir -p "$MNT" 2>/dev/null || true

child=
stopping=
# shellcheck disable=SC2317 # called by the trap below
forward() {
  stopping=1
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
}
trap forward TERM INT HUP

log "mounting $SRC at $MNT"
"$MOUNT_CMD" "$SRC" "$MNT" "$@" &
child=$!

# `wait` returns early when a trapped signal arrives; wait again until the
# mount process itself has exited, then read its status.
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || break
done

# Only a mount the child made: one that was there before it started belongs
# to someone else (the child refused to mount over it).
after=$(top_mount "$MNT")
if [ -n "$after" ] && [ "$after" != "$before" ]; then
  log "$MOUNT_CMD exited ($rc) and left $MNT mounted; detaching it"
  release || rc=1
fi
if [ -n "$stopping" ]; then
  log "stopped (status $rc)"
else
  log "$MOUNT_CMD exited on its own with status $rc"
  [ "$rc" -eq 0 ] && rc=1 # the mount is gone while the container was meant to serve it
fi
exit "$rc"
