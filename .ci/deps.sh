#!/bin/sh
# System packages stableid's build and tests need (Debian 12), as root. Each
# area lists its packages in .ci/deps.d/*.txt (one per line, # comments).
set -e
export DEBIAN_FRONTEND=noninteractive
dir=$(dirname "$0")/deps.d
pkgs=$(cat "$dir"/*.txt | sed 's/#.*//' | tr -s ' \n' '\n' | sort -u | tr '\n' ' ')
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $pkgs
