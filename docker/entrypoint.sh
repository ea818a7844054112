#!/bin/sh
# The sidecar's PID 1: run stableid-mount in the foreground and make sure the
# mountpoint is released when the container stops or the mount process dies.
#
#   entrypoint.sh [SRC [MNT [stableid-mount options...]]]
#
# SRC and MNT default to $STABLEID_SRC (/data) and $STABLEID_MNT (/stable).
# On SIGTERM or SIGINT (docker stop) it passes the signal on; stableid-mount
# unmounts and exits 0, and so does this script. If the mount process dies
# without unmounting, a dead FUSE mount would stay behind in the shared
# mount namespace ("Transport endpoint is not connected" in the Samba
# container): this script detaches it and exits with the process's status.
# $STABLEID_MOUNT names the mount program (tests and debugging).
set -u

SRC=${1:-${STABLEID_SRC:-/data}}
MNT=${2:-${STABLEID_MNT:-/stable}}
if [ "$#" -gt 2 ]; then shift 2; else set --; fi
MOUNT_CMD=${STABLEID_MOUNT:-stableid-mount}

log() { echo "stableid-entrypoint: $*" >&2; }

# Is $1 a mount point right now? (/proc/self/mountinfo field 5, octal escapes as the kernel writes them)
is_mounted() {
  want=$(printf '%s' "$1" | sed 's/\\/\\134/g; s/ /\\040/g; s/	/\\011/g')
  awk -v m="$want" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

release() {
  is_mounted "$MNT" || return 0
  fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || {
    log "could not unmount $MNT; unmount it on the host: umount -l <host path of $MNT>"
    return 1
  }
}

[ -d "$SRC" ] || { log "source $SRC is not a directory: bind-mount the data to share there (compose: volumes)"; exit 2; }
[ -c /dev/fuse ] || { log "no /dev/fuse: run the container with --device /dev/fuse --cap-add SYS_ADMIN"; exit 2; }
mkdir -p "$MNT" 2>/dev/null || true
if is_mounted "$MNT"; then
  # Left by a container that was killed (docker kill, OOM): clear it first.
  log "$MNT is still mounted from an earlier run; detaching it"
  release || exit 1
fi

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

if is_mounted "$MNT"; then
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
