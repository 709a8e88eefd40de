#!/usr/bin/env bats
# tend ps: system-wide zombies, orphans and the summary, without a daemon.

load helpers

@test "tend ps --zombies finds a zombie with its parent" {
	"$TPROC" zombie "$T/z" &
	parent=$!
	wait_until 5 test -s "$T/z"
	read -r zpid ppid <"$T/z"
	[ "$ppid" -eq "$parent" ]
	run "$TEND" ps --zombies
	[ "$status" -eq 0 ]
	echo "$output"
	echo "$output" | grep -E "^ *$zpid +tproc +$parent +tproc "
	run "$TEND" --json ps --zombies
	echo "$output" | python3 -c "
import json, sys
z = [e for e in json.load(sys.stdin)['zombies'] if e['pid'] == $zpid]
assert z and z[0]['ppid'] == $parent and z[0]['parent'] == 'tproc' and z[0]['age_seconds'] >= 0, z"
	kill "$parent"
	wait "$parent" || true
	# reaped by its parent's death (re-parented and collected): gone from the list
	wait_until 5 bash -c "! $TEND ps --zombies | grep -qE '^ *$zpid '"
}

@test "tend ps --orphans finds a process its session left behind" {
	"$TPROC" orphan "$T/o"
	wait_until 5 test -s "$T/o"
	opid=$(cat "$T/o")
	run "$TEND" ps --orphans
	echo "$output"
	echo "$output" | grep -E "^ *$opid +tproc "
	# a process whose session leader is alive is not an orphan
	run "$TEND" --json ps --orphans
	echo "$output" | python3 -c "
import json, sys, os
o = {e['pid']: e for e in json.load(sys.stdin)['orphans']}
assert $opid in o, o
assert os.getpid() not in o"
	kill "$opid"
}

@test "tend ps --summary counts agree with /proc and name the top processes" {
	"$TPROC" memhog 50 "$T/hog" 200 &
	hog=$!
	# the test dir on the command line lets teardown end it if an assertion fails
	"$TPROC" burn "$T/burn" &
	burn=$!
	sleep 1
	before=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
	run "$TEND" --json ps --summary --interval 0.5
	[ "$status" -eq 0 ]
	after=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
	# processes come and go meanwhile (more on a busy machine): the count
	# must lie between the counts taken before and after, give or take
	echo "$output" | python3 -c "
import json, os, sys
s = json.load(sys.stdin)
lo, hi = sorted(($before, $after))
slack = max(5, hi // 10)
assert lo - slack <= s['total_processes'] <= hi + slack, (s['total_processes'], lo, hi)
assert s['running'] >= 1 and s['sleeping'] >= 1
assert s['running'] + s['sleeping'] + s['zombie'] <= s['total_processes']
# no padding with idle processes or kernel threads
assert 1 <= len(s['top_cpu']) <= 10 and len(s['top_memory']) == 10
assert all(c['percent'] > 0 for c in s['top_cpu']), s['top_cpu']
assert all(m['mb'] > 0 for m in s['top_memory']), s['top_memory']
# in the list with a real share: on a busy machine (other tests, benchmarks)
# other loops may be busier and the burner get less than a CPU
assert any(c['pid'] == $burn and c['percent'] > 5 for c in s['top_cpu']), s['top_cpu']
assert any(m['pid'] == $hog for m in s['top_memory'][:5]), s['top_memory'][:5]
for k in ('name', 'pid', 'mb'):
    assert k in s['top_memory'][0]
assert s['total_memory_gb'] > 0"
	run "$TEND" ps --summary --interval 0
	[[ "${lines[0]}" == "processes: "*" total, "* ]]
	kill "$hog" "$burn"
	wait "$hog" "$burn" 2>/dev/null || true
}

@test "tend ps needs no daemon and rejects bad arguments" {
	run "$TEND" -s "$T/nothing.sock" ps --summary --interval 0
	[ "$status" -eq 0 ]
	run "$TEND" ps
	[ "$status" -eq 2 ]
	run "$TEND" ps --summary --interval -1
	[ "$status" -eq 2 ]
}
