#!/usr/bin/env python3
"""tend's own work per restart, in instructions (callgrind), at several sizes.

Instruction counts do not move with the machine's load, so they compare two
builds, or 200 and 1000 programs, where wall-clock figures on a shared VM
cannot.  For each size N: tendd runs under valgrind --tool=callgrind with N
idle programs (the victim of ../shared/bench/restart_latency.py, the same
config as its `tend` kind); once all are up the counters are zeroed
(callgrind_control -z), one program is SIGKILLed K times (each time waiting
for its replacement's start stamp), and the counters are dumped: the total
divided by K is tend's instructions per restart (reaping, the state table,
the passes, the spawn up to the child's exec; the child itself runs
natively: --trace-children=no).

Usage: callgrind.py TENDD[,LABEL] [TENDD2[,LABEL2]...] --sizes 200,1000 -k 20
Prints: NAME | instructions to start N programs / per restart | VALUE | DETAILS
Env: SHARED_BENCH (default ../shared/bench), CGROUPS (auto|off, default auto),
LOGS (auto: AUTO log files as restart_latency.py's config; none: stdout and
stderr NONE, one descriptor per program, for sizes a low RLIMIT_NOFILE hard
limit would refuse otherwise), CG_KEEP (a directory to copy the dumps to, for
callgrind_annotate: cg.out.1 start-up, .2 restarts, .3.. one per request kind: status,
status --json, /metrics, a reload of the unchanged config).
"""
import argparse, os, re, shutil, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("SHARED_BENCH", os.path.join(os.path.dirname(ROOT), "shared", "bench"))
sys.path.insert(0, SHARED)
import restart_latency as rl  # noqa: E402  (victim build, start stamps)


def total_ir(path):
    """The 'totals:' (or 'summary:') line of a callgrind dump: instructions."""
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise ValueError(f"no totals in {path}")


def control(args):
    r = subprocess.run(["callgrind_control"] + args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)}: {r.stdout} {r.stderr}")


def newest_dump(d, count):
    """Dump number COUNT of callgrind_control -d (cg.out.1, cg.out.2, ...): a
    dump is written when valgrind next looks at its command file, which can be
    after callgrind_control returned."""
    def dumps():
        return [x for x in os.listdir(d) if x.startswith("cg.out.")]
    try:
        rl.wait_for(lambda: len(dumps()) >= count, timeout=60, step=0.1)
    except TimeoutError:
        raise RuntimeError("no dump written") from None
    time.sleep(0.5)  # written in full
    return os.path.join(d, max(dumps(), key=lambda x: int(x.rsplit(".", 1)[1].split("-")[0])))


REQUESTS = [("status", "GET", "/v1/programs?view=brief"), ("status --json", "GET", "/v1/programs"),
            ("/metrics", "GET", "/metrics"), ("reload (unchanged config)", "POST", "/v1/reload")]


def measure(tendd, n, k, r=5):
    """(instructions from exec until N programs are up, instructions per restart,
    {request: instructions per request}) -- each request sent R times with curl."""
    d = tempfile.mkdtemp(prefix="bench-cg-")
    conf = os.path.join(d, "tend.conf")
    with open(conf, "w") as f:
        f.write(f"[unix_http_server]\nfile={d}/tend.sock\n[supervisord]\ncgroups={os.environ.get('CGROUPS', 'auto')}\n")
        for i in range(n):
            f.write(f"[program:v{i}]\ncommand={rl.VICTIM} {d}/v{i}.log\nautorestart=true\nstartsecs=0\n"
                    "backoff_reset_after=1\n")
            if os.environ.get("LOGS") == "none":
                f.write("stdout_logfile=NONE\nstderr_logfile=NONE\n")
    out = os.path.join(d, "cg.out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--trace-children=no", f"--callgrind-out-file={out}",
                          tendd, "up", "-c", conf], stdout=open(os.path.join(d, "tendd.log"), "w"),
                         stderr=subprocess.STDOUT)
    logs = [os.path.join(d, f"v{i}.log") for i in range(n)]
    try:
        # under valgrind 10,000 programs take longer than 10 minutes to come up
        rl.wait_for(lambda: all(rl.read_starts(x) for x in logs), timeout=max(600, n * 0.3), step=0.5)
        control(["-d", "startup", str(p.pid)])
        startup = total_ir(newest_dump(d, 1))
        time.sleep(3)
        control(["-z", str(p.pid)])
        for _ in range(k):
            starts = rl.read_starts(logs[0])
            cnt = len(starts)
            os.kill(starts[-1][1], signal.SIGKILL)
            rl.wait_for(lambda: len(rl.read_starts(logs[0])) > cnt, timeout=120, step=0.01)
            time.sleep(1.2)  # past backoff_reset_after: every restart is the first (no backoff)
        control(["-d", "restarts", str(p.pid)])
        per_restart = total_ir(newest_dump(d, 2)) / k
        per_req = {}
        for i, (label, method, path) in enumerate(REQUESTS):
            control(["-z", str(p.pid)])
            for _ in range(r):
                subprocess.run(["curl", "-sf", "-o", "/dev/null", "--max-time", "600", "-X", method, "--unix-socket",
                                f"{d}/tend.sock", f"http://localhost{path}"], check=True)
            control(["-d", re.sub(r"[^a-z-]", "", label.replace(" ", "-")), str(p.pid)])
            per_req[label] = total_ir(newest_dump(d, 3 + i)) / r
        return startup, per_restart, per_req
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            # a build before d8707d1 never stops its programs under valgrind
            # (no pidfd_send_signal there): end it, its victims and its tree
            p.kill()
            p.wait()
            kill_leftovers(d, logs)
        if os.environ.get("CG_KEEP"):  # the dumps, for callgrind_annotate
            os.makedirs(os.environ["CG_KEEP"], exist_ok=True)
            for x in os.listdir(d):
                if x.startswith("cg.out"):
                    shutil.copy(os.path.join(d, x), os.environ["CG_KEEP"])
        shutil.rmtree(d, ignore_errors=True)


def kill_leftovers(d, logs):
    """SIGKILL the victims started for d (their start stamps name them) and remove tend's cgroup tree."""
    for x in logs:
        for _, pid in rl.read_starts(x):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if d.encode() in f.read():
                        os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    time.sleep(1)
    with open(os.path.join(d, "tendd.log")) as f:
        trees = [t for line in f if "INFO cgroup tree: " in line
                 for t in line.split("INFO cgroup tree: ")[1].split()]
    for t in trees:
        for root, _, _ in os.walk(t, topdown=False):
            try:
                os.rmdir(root)
            except OSError as e:
                print(f"cannot remove {root}: {e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tendd", nargs="+", help="path[,label]")
    ap.add_argument("--sizes", default="200,1000")
    ap.add_argument("-k", type=int, default=20)
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        print("callgrind | instructions per restart | SKIPPED | valgrind not installed")
        return
    rl.build_victim()
    sizes = [int(x) for x in a.sizes.split(",")]
    for spec in a.tendd:
        path, _, label = spec.partition(",")
        label = label or "tend"
        per = {}
        for n in sizes:
            try:
                up, per[n], req = measure(path, n, a.k)
            except Exception as e:  # report and go on with the next size
                print(f"{label} | instructions per restart, {n} programs | FAILED | {type(e).__name__} {e}", flush=True)
                continue
            print(f"{label} | instructions to start {n} programs | {up:,.0f} | {up / n:,.0f} per program, "
                  "from exec until every program's start stamp", flush=True)
            print(f"{label} | instructions per restart, {n} programs | {per[n]:,.0f} | callgrind, {a.k} SIGKILLs, "
                  f"cgroups={os.environ.get('CGROUPS', 'auto')}, logs={os.environ.get('LOGS', 'auto')}", flush=True)
            for what, ir in req.items():
                print(f"{label} | instructions per {what} request, {n} programs | {ir:,.0f} | "
                      f"{ir / n:,.0f} per program, daemon side (curl)", flush=True)
        if len(per) > 1:
            lo, hi = min(per), max(per)
            print(f"{label} | growth per restart, {lo} -> {hi} programs | {per[hi] / per[lo]:.2f}x | "
                  "target: flat (within 1.10x)", flush=True)


if __name__ == "__main__":
    main()
