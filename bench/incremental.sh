#!/bin/bash
# incremental.sh [contig|scattered]: bytes an incremental checkpoint writes
# after 5 % of a 1 GiB app (bench/rewrite.c) is rewritten, against the full
# first one (--compress=none: the bytes are the memory). Needs bin/crrun.
set -e
here=$(cd "$(dirname "$0")" && pwd)
B=${CRRUN:-$here/../bin/crrun}
w=$(mktemp -d); trap 'rm -rf $w' EXIT
gcc -O2 -o $w/rewrite $here/rewrite.c
arg=""; [ "$1" = scattered ] && arg=s
mkdir $w/store $w/rt
$B --runtime-dir $w/rt --compress=none --dir $w/store -- $w/rewrite $arg > $w/out 2> $w/err &
until grep -q 'big: ready' $w/err; do sleep 0.5; done
$B --runtime-dir $w/rt checkpoint >/dev/null
kill -USR2 $(pgrep -f "^$w/rewrite" | head -1)
until grep -q 'big: rewritten' $w/err; do sleep 0.2; done
$B --runtime-dir $w/rt checkpoint >/dev/null
$B --runtime-dir $w/rt checkpoint --exit >/dev/null || true
wait || true
grep 'checkpoint written' $w/err | sed 's/.*\(gen-[0-9]*\)/\1/'
du -sm $w/store/gen-*
