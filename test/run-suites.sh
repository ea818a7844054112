#!/bin/sh
# The test suite, twice: with kernel FUSE passthrough (the default where the
# kernel has it) and with it forced off (STABLEID_PASSTHROUGH=off), so both
# data paths pass everything. Arguments go to ava (e.g. --tap, file globs).
# Tests that choose passthrough themselves (-o passthrough / nopassthrough)
# run the same way both times; containers do not inherit the variable.
set -u
echo "# suite 1 of 2: kernel passthrough where the kernel has it"
npx ava "$@"
first=$?
echo "# suite 2 of 2: STABLEID_PASSTHROUGH=off"
STABLEID_PASSTHROUGH=off npx ava "$@"
second=$?
[ "$first" -eq 0 ] && [ "$second" -eq 0 ]
