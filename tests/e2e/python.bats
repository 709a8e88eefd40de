#!/usr/bin/env bats
# The Python package's examples under the real tend: examples/python/pool_demo.py
# (same output as multiprocessing) and examples/python/flask_shared_state (Flask
# under 4 gunicorn instances supervised by tend as a pool, counters shared in
# tend objects, exact after a rolling restart under ab's load; sessions and
# feature flags in tend.Map, seen by every worker).

load helpers

# helpers' teardown, then the shared-memory names the Flask test made
eval "helpers_$(declare -f teardown)"
teardown() {
	local rc=0
	helpers_teardown || rc=$?
	[ -n "${FLASK_SHARED_NS:-}" ] && rm -f /dev/shm/"$FLASK_SHARED_NS"-*
	return $rc
}

PY=/usr/bin/python3
EX=$BATS_TEST_DIRNAME/../../examples/python

py_setup() {
	[ -f "$TEND_BUILD/python/tend/__init__.py" ] || skip "the Python package is not built (make python)"
	export PYTHONPATH=$TEND_BUILD/python
	# under SANITIZE=1 the extension is instrumented: the interpreters that
	# import it (and only they: pgrep under a preloaded ASan hangs the
	# teardown) get the sanitizer runtimes preloaded (scripts/run-tests sets
	# TEND_PY_PRELOAD)
	PYENV=(env "LD_PRELOAD=${TEND_PY_PRELOAD:-}" ASAN_OPTIONS=detect_leaks=0)
}

@test "pool_demo: tend.Pool prints what multiprocessing.Pool prints" {
	py_setup
	# the result on stdout; the time on stderr, which differs
	run bash -c "env LD_PRELOAD='${TEND_PY_PRELOAD:-}' ASAN_OPTIONS=detect_leaks=0 '$PY' '$EX/pool_demo.py' 60000 2>/dev/null"
	[ "$status" -eq 0 ]
	tend_out=$output
	# multiprocessing's own pool, without tend: not under the sanitizers
	# (fork in its threaded parent can deadlock the ASan runtime)
	run bash -c "'$PY' '$EX/pool_demo.py' --mp 60000 2>/dev/null"
	[ "$status" -eq 0 ]
	[ "$output" = "$tend_out" ]
	# pi(60000) = 6057, and the other lines are what the methods must give
	echo "$tend_out" | grep -qx "primes below 60000: 6057"
	echo "$tend_out" | grep -qx "powers of two: \[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024\]"
	echo "$tend_out" | grep -qx "sum of squares below 1000: 332833500"
}

# stats: the JSON of /stats
stats() {
	curl -s "http://127.0.0.1:$port/stats"
}

# json_field NAME: a field of the JSON on stdin
json_field() {
	"$PY" -c "import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(sum(v) if isinstance(v, list) else v)" "$1"
}

@test "flask_shared_state: 4 gunicorn instances share exact counters, sessions and flags in tend, through a rolling restart under ab" {
	py_setup
	command -v gunicorn >/dev/null || skip "gunicorn missing (scripts/install-deps)"
	command -v ab >/dev/null || skip "ab missing (apache2-utils, scripts/install-deps)"
	port=$(free_port)
	export FLASK_SHARED_NS=tend-e2e-flask-$$
	conf <<EOF
[program:web]
command=gunicorn --config gunicorn.conf.py app:app
directory=$EX/flask_shared_state
process_name=web_%(process_num)d
numprocs=4
environment=WEB_INSTANCE=%(process_num)d,PYTHONPATH=$PYTHONPATH,FLASK_SHARED_NS=$FLASK_SHARED_NS,LD_PRELOAD="${TEND_PY_PRELOAD:-}",ASAN_OPTIONS=detect_leaks=0
listen=tcp://127.0.0.1:$port
ready=notify
ready_timeout=30s
drain_secs=0.5
stopwaitsecs=10
EOF
	start_tend
	wait_until 30 state_is web:web_3 RUNNING || { cat "$T/tend.log" >&3; false; }
	for i in 0 1 2; do wait_until 30 state_is web:web_$i RUNNING; done
	before=$(for i in 0 1 2 3; do pid_of web:web_$i; done | sort)

	# 1. load before the restart
	run ab -q -n 2000 -c 8 "http://127.0.0.1:$port/"
	[ "$status" -eq 0 ]
	echo "$output" | grep -q "Complete requests: *2000"
	echo "$output" | grep -q "Failed requests: *0"
	[ "$(stats | json_field hits)" = 2000 ]
	[ "$(stats | json_field instances)" = 2000 ]
	# more than one instance served them, and every worker reads the same total
	served=$(stats | "$PY" -c 'import json,sys; print(sum(1 for v in json.load(sys.stdin)["instances"] if v))')
	[ "$served" -ge 2 ]

	# 2. a rolling restart while ab runs: nothing refused, nothing lost
	ab -q -n 3000 -c 8 "http://127.0.0.1:$port/" >"$T/ab2" 2>&1 &
	abpid=$!
	sleep 0.3
	run tendc restart --rolling 'web:*'
	[ "$status" -eq 0 ]
	wait "$abpid"
	cat "$T/ab2" | grep -E "Complete|Failed|Non-2xx" | sed 's/^/# /' >&3
	grep -q "Complete requests: *3000" "$T/ab2"
	grep -q "Failed requests: *0" "$T/ab2"
	! grep -q "Non-2xx" "$T/ab2"
	after=$(for i in 0 1 2 3; do pid_of web:web_$i; done | sort)
	[ -z "$(comm -12 <(echo "$before") <(echo "$after"))" ] # every instance replaced

	# 3. the counters survived the restart, exact: the new workers opened the
	# same objects and every request of both runs is in them
	[ "$(stats | json_field hits)" = 5000 ]
	[ "$(stats | json_field instances)" = 5000 ]

	[ "$(stats | json_field requests)" = 5000 ] # Map.incr from every worker, both runs

	# 4. a session created on one worker is read on another
	code=$(curl -s -o "$T/put" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		-d '{"user": "ada", "cart": [1, 2, 3]}' "http://127.0.0.1:$port/session/s1")
	[ "$code" = 200 ]
	writer=$(json_field pid <"$T/put")
	other=""
	for i in $(seq 1 100); do
		code=$(curl -s -o "$T/get" -w '%{http_code}' "http://127.0.0.1:$port/session/s1")
		[ "$code" = 200 ]
		"$PY" -c 'import json,sys; assert json.load(sys.stdin)["session"] == {"user": "ada", "cart": [1, 2, 3]}' <"$T/get"
		pid=$(json_field pid <"$T/get")
		if [ "$pid" != "$writer" ]; then other=$pid; break; fi
	done
	[ -n "$other" ] # read back by a worker that did not write it
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/session/nope")" = 404 ]

	# 5. a flag flipped by the admin script is seen by every worker at its next
	# request: no worker answers the old value after flags.py returned
	flags_of() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["pid"], json.dumps(d["flags"], sort_keys=True))'; }
	for i in $(seq 1 20); do
		curl -s "http://127.0.0.1:$port/flags" | flags_of >>"$T/flags0"
	done
	[ "$(wc -l <"$T/flags0")" = 20 ] && [ "$(grep -vc ' {}$' "$T/flags0")" = 0 ]
	(cd "$EX/flask_shared_state" && "${PYENV[@]}" "$PY" flags.py set beta true)
	for i in $(seq 1 60); do
		curl -s "http://127.0.0.1:$port/flags" | flags_of >>"$T/flags1"
	done
	[ "$(wc -l <"$T/flags1")" = 60 ] && [ "$(grep -vc ' {"beta": true}$' "$T/flags1")" = 0 ]
	[ "$(cut -d' ' -f1 "$T/flags1" | sort -u | wc -l)" -ge 3 ] # from several workers
	(cd "$EX/flask_shared_state" && "${PYENV[@]}" "$PY" flags.py list) | grep -qx 'beta = true'
	stop_tend
}
