#!/bin/sh
# npm's install step: build the addons (stableid_fuse.node, which speaks the
# kernel's FUSE protocol itself, stableid_sys.node, stableid_handles.node,
# stableid_lock.node, stableid_notify.node) with node-gyp against the running
# node's own headers, so nothing is downloaded. Missing kernel headers fail
# with one line.
set -e
if [ ! -f /usr/include/linux/fuse.h ]; then
  echo "stableid: kernel headers not found (/usr/include/linux/fuse.h): install the Debian package linux-libc-dev" >&2
  exit 1
fi
nodedir=$(node -p 'require("path").resolve(process.execPath, "../..")')
if [ -f "$nodedir/include/node/node_api.h" ]; then
  exec node-gyp rebuild --nodedir="$nodedir"
fi
exec node-gyp rebuild
