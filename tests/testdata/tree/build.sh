#!/bin/bash
# build.sh SRCDIR DIR: `make -j2` of the small C project in SRCDIR (copied
# into DIR first; its compiles sleep, ~3 s in all), then runs the program.
#
# Checks make's exit status, that every target was built exactly once
# (build.log), and the program's output against SRCDIR/expected.txt (written
# by independent means: Python's zlib, a Python sieve, ...).
#
# stdout (deterministic): a header, the program's output, then exactly
# "PASS" or "FAIL: <what>". stderr: "make: pid=N", "make: running", "make:
# end pid=N".
set -u
export LC_ALL=C
unset MAKEFLAGS MFLAGS MAKELEVEL # a make running the tests is not ours
src=$1
cd "$2" || { echo "FAIL: cd $2"; exit 1; }
echo "make: pid=$BASHPID" >&2
cp "$src"/Makefile "$src"/*.c "$src"/*.h . || { echo "FAIL: copy the project"; exit 1; }
mkdir -p tmp
export TMPDIR=$PWD/tmp # the compilers' temporary files
rm -f build.log
echo "make: make -s -j2, then ./prog"
echo "make: running" >&2
make -s -j2 prog
st=$?
echo "make: end pid=$BASHPID" >&2

fail=""
[ "$st" = 0 ] || fail="$fail; make exited $st"
if [ -x prog ]; then
	./prog > prog.out
	pst=$?
	cat prog.out
	[ "$pst" = 0 ] || fail="$fail; prog exited $pst"
	cmp -s prog.out "$src"/expected.txt || fail="$fail; the program's output differs from expected.txt"
else
	fail="$fail; no prog"
fi
built=$(sort build.log 2>/dev/null | tr '\n' ' ')
want="crc.o fib.o main.o primes.o prog sortk.o strhash.o "
echo "built: $built"
[ "$built" = "$want" ] || fail="$fail; build.log lists '$built', want each target once: '$want'"
if [ -n "$fail" ]; then
	echo "FAIL: ${fail#; }"
	exit 1
fi
echo PASS
