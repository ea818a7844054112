#!/bin/sh
# Stand-ins for the base images docker/ builds on, for a machine that reaches
# Debian's archive but no image registry (CI here):
#
#   debian:bookworm-slim     a minbase bookworm rootfs (mmdebstrap from deb.debian.org, as debian's own)
#   node:20-bookworm-slim    the same rootfs plus this machine's Node 20 laid out as the
#                            official image has it (/usr/local/{bin,include/node,lib/node_modules})
#   node:20-bookworm         the same image: the build stage installs its own compilers
#
# Each is imported with `podman import` and tagged with the official name, so the
# Dockerfiles stay as a Docker user builds them. An image already under a name
# (pulled from a registry, or a stand-in of this same recipe) is kept.
#
#   podman-base-images.sh RECIPE_ID
#
# RECIPE_ID labels the stand-ins (test/helpers/podman.ts passes a hash of this
# file), so a changed recipe is rebuilt and an unchanged one never is.
set -eu
recipe=${1:?usage: podman-base-images.sh RECIPE_ID}
LABEL=org.stableid.standin

# Whether NAME must be made: missing, or a stand-in of another recipe. An
# image without the label came from a registry and is kept.
wanted() {
  got=$(podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$1" 2>/dev/null) || return 0
  [ -n "$got" ] && [ "$got" != "$recipe" ]
}
DEBIAN=docker.io/library/debian:bookworm-slim
NODE="docker.io/library/node:20-bookworm-slim docker.io/library/node:20-bookworm"
need=
for name in $DEBIAN $NODE; do wanted "$name" && need=1; done
[ -n "$need" ] || exit 0

node=$(command -v node) || { echo "no node on PATH: the stand-ins copy this machine's Node 20" >&2; exit 1; }
prefix=$(dirname "$(dirname "$(readlink -f "$node")")")
case $("$node" --version) in v20.*) ;; *) echo "$node is not Node 20: the stand-ins copy this machine's Node 20" >&2; exit 1 ;; esac
if [ ! -d "$prefix/include/node" ] || [ ! -d "$prefix/lib/node_modules/npm" ]; then
  echo "$prefix has no include/node or lib/node_modules/npm: need a Node 20 install with headers and npm" >&2
  exit 1
fi

work=$(mktemp -d /var/tmp/stableid-standin.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
# What debian:*-slim leaves out (docs, man pages, locales), to keep the layers small.
mmdebstrap --quiet --mode=root --variant=minbase \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  bookworm "$root"

import() { # NAME DIR [CHANGE]
  tar -C "$2" --numeric-owner -cf - . | podman import --quiet \
    --change "LABEL $LABEL=$recipe" ${3:+--change "$3"} \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$1" >/dev/null
}

if wanted $DEBIAN; then import $DEBIAN "$root"; fi

# Node as the official image lays it out: node, npm, npx and corepack under /usr/local.
mkdir -p "$root/usr/local/bin" "$root/usr/local/include" "$root/usr/local/lib"
cp -a "$prefix/bin/node" "$root/usr/local/bin/node"
cp -a "$prefix/include/node" "$root/usr/local/include/node"
cp -a "$prefix/lib/node_modules" "$root/usr/local/lib/node_modules"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
[ -d "$root/usr/local/lib/node_modules/corepack" ] && ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
# This machine may reach the npm registry through a TLS proxy that only its own
# CA bundle trusts (the host's npm is configured with cafile=): the stand-in
# trusts what the machine trusts, as an image pulled here would have to.
# (Under its own name: a later `apt-get install ca-certificates` in a build
# rewrites /etc/ssl/certs/ca-certificates.crt.)
bundle=/etc/ssl/certs/ca-certificates.crt
extra=
if [ -f "$bundle" ]; then
  cp "$bundle" "$root/usr/local/etc/standin-ca-bundle.crt"
  extra="ENV NODE_EXTRA_CA_CERTS=/usr/local/etc/standin-ca-bundle.crt"
fi
made=
for name in $NODE; do
  wanted "$name" || continue
  if [ -n "$made" ]; then podman tag "$made" "$name"; else import "$name" "$root" "$extra"; made=$name; fi
done
