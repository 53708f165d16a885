#!/bin/bash
# pipeline.sh PRODUCER DIR: a batch job made of pipelines, for the tree tests.
#
# In DIR it computes the expected result first, without any pipe (the
# producer's whole output into a file, awk counting it into another), then
# runs, while the checkpoint may land:
#
#   PRODUCER | tee raw.txt | sort | uniq -c | gzip -c > out.gz     (foreground)
#   PRODUCER -q | gzip -1 -c > stream.gz                          (background job)
#
# (~4 s each) and checks every exit status, raw.txt and stream.gz against the
# producer's output and sha256(zcat out.gz) against the awk count.
#
# stdout (deterministic): a header, result lines, then exactly "PASS" or
# "FAIL: <what>". stderr: "pipeline: pid=N", "pipeline: running", "pipeline:
# end pid=N" (bash's $BASHPID, a real getpid()).
set -u
export LC_ALL=C
producer=$1
cd "$2" || { echo "FAIL: cd $2"; exit 1; }
echo "pipeline: pid=$BASHPID" >&2
echo "pipeline: producer | tee raw.txt | sort | uniq -c | gzip > out.gz, producer -q | gzip > stream.gz &"

"$producer" -f -q > expect-raw.txt || { echo "FAIL: producer -f"; exit 1; }
awk '{ c[$0]++; if (!($1 in line)) line[$1] = $0 }
     END { for (i = 0; i < 3000; i++) { k = sprintf("k%04d", i); if (k in line) printf "%7d %s\n", c[line[k]], line[k] } }' \
	expect-raw.txt > expect.txt
expect=$(sha256sum < expect.txt)
expect=${expect%% *}

echo "pipeline: running" >&2
"$producer" -q | gzip -1 -c > stream.gz &
bg=$!
"$producer" | tee raw.txt | sort | uniq -c | gzip -c > out.gz
st="${PIPESTATUS[*]}"
wait "$bg"
bgst=$?
echo "pipeline: end pid=$BASHPID" >&2

fail=""
echo "pipestatus: $st, background job: $bgst"
[ "$st" = "0 0 0 0 0" ] || fail="$fail; pipeline exit statuses $st"
[ "$bgst" = 0 ] || fail="$fail; background job exit status $bgst"
cmp -s raw.txt expect-raw.txt || fail="$fail; raw.txt differs from the producer's output"
zcat stream.gz > stream.txt && cmp -s stream.txt expect-raw.txt || fail="$fail; stream.gz differs from the producer's output"
got=$(zcat out.gz | sha256sum)
got=${got%% *}
groups=$(zcat out.gz | wc -l)
echo "lines: $(wc -l < raw.txt), groups: $groups"
echo "sha256(zcat out.gz): $got"
[ "$got" = "$expect" ] || fail="$fail; sha256 of the counts is $got, want $expect"
if [ -n "$fail" ]; then
	echo "FAIL: ${fail#; }"
	exit 1
fi
echo PASS
