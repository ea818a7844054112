#!/bin/sh
# npm's install step: build the addons (stableid_fuse.node over libfuse3,
# stableid_sys.node, stableid_handles.node, stableid_lock.node, stableid_notify.node) with
# node-gyp against the running node's own headers, so
# nothing is downloaded. Missing libfuse3 headers fail with one line.
set -e
if ! pkg-config --exists fuse3 2>/dev/null || [ ! -f "$(pkg-config --variable=includedir fuse3)/fuse3/fuse_lowlevel.h" ]; then
  echo "stableid: libfuse3 headers not found: install the Debian package libfuse3-dev (apt-get install libfuse3-dev pkg-config)" >&2
  exit 1
fi
nodedir=$(node -p 'require("path").resolve(process.execPath, "../..")')
if [ -f "$nodedir/include/node/node_api.h" ]; then
  exec node-gyp rebuild --nodedir="$nodedir"
fi
exec node-gyp rebuild
