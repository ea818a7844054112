#!/bin/sh
# System packages stableid's build and tests need (Debian 12). Used by the
# README's set-up commands and by .ci/run; run as root.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  build-essential python3 pkg-config fuse3 libfuse3-dev \
  attr e2fsprogs xfsprogs util-linux
