#!/usr/bin/env python3
"""All programs up and all programs stopped, tend beside the floor, alternating.

Usage: floor_all.py TEND_BIN N TRIALS
Env: LOGS=none: tend's programs with stdout and stderr NONE (10,000 programs
need that under a hard open-file limit of 20,000).  RESTARTS (default 10): SIGKILLs
per trial for the restart latency (0: none).

The floor is ../shared/bench/floor_sup.c (vfork+execve each program, again when it exits; on
SIGTERM it SIGKILLs them all and waits): the least a supervisor can do.  Both
run the same victim (../shared/bench/victim.c, which stamps its start time),
through restart_latency.py's own classes, so the figures are those of
restart_latency.py:
- up all: from launch to the last program's own start stamp;
- restart after SIGKILL: between up and stop, program 0 is killed RESTARTS times
  (1.2 s apart, as restart_latency.py does), each from the kill to the
  replacement's own start stamp; the median of every kill of the trials;
- stop all: from SIGTERM to the supervisor (tend up, or floor_sup) having
  exited with no victim left (tend sends each program its stopsignal, TERM,
  and reaps it; the floor kills with SIGKILL: tend does more, by design).
Trials alternate floor and tend so that both see the same machine.  Prints
"NAME | METRIC | VALUE | DETAILS" lines (the medians) as bench/run collects.
"""
import importlib.util, os, shutil, statistics, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("SHARED_BENCH", os.path.join(os.path.dirname(ROOT), "shared", "bench"))

spec = importlib.util.spec_from_file_location("restart_latency", os.path.join(SHARED, "restart_latency.py"))
rl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rl)


def victims_left(d):
    """Victims of this run still alive (their argv names a log in d)."""
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if (d + "/v").encode() in f.read():
                    n += 1
        except OSError:
            pass
    return n


class TendNoLogs(rl.Tend):
    """restart_latency.py's tend config with stdout and stderr NONE: one
    descriptor per program, so 10,000 fit a hard limit of 20,000 (AUTO logs
    hold two pipes each)."""
    def start(self):
        conf = os.path.join(self.d, "tend.conf")
        with open(conf, "w") as f:
            for i in range(self.n):
                f.write(f"[program:v{i}]\ncommand={rl.VICTIM} {self.d}/v{i}.log\nautorestart=true\nstartsecs=0\n"
                        "backoff_reset_after=1\nstdout_logfile=NONE\nstderr_logfile=NONE\n")
        self.p = subprocess.Popen([os.environ.get("TEND_BIN", "tend"), "up", "-c", conf],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self.p.pid


def logs_made(d):
    """How many victims have made their log (v*.log) in d."""
    with os.scandir(d) as it:
        return sum(1 for e in it if e.name.startswith("v") and e.name.endswith(".log"))


def restarts(s, k):
    """restart_latency.py's measure: ms from SIGKILL of program 0 to its
    replacement's start stamp, k times."""
    lat, log0 = [], s.logs()[0]
    for _ in range(k):
        starts = rl.read_starts(log0)
        t_kill = rl.now_ns()
        os.kill(starts[-1][1], signal.SIGKILL)
        rl.wait_for(lambda: len(rl.read_starts(log0)) > len(starts), timeout=30)
        lat.append((rl.read_starts(log0)[-1][0] - t_kill) / 1e6)
        time.sleep(1.2)
    return lat


def trial(kind, n):
    d = tempfile.mkdtemp(prefix=f"floor-all-{kind}-")
    s = (TendNoLogs if kind == "tend" and os.environ.get("LOGS") == "none" else rl.KINDS[kind])(d, n)
    t0_ns = rl.now_ns()
    s.start()
    try:
        # the figure comes from the stamps, not from when this sees them: look
        # seldom and cheaply (a directory count), or the poller's own CPU (a
        # read of every log each 50 ms: half a core at 10,000) slows the run
        rl.wait_for(lambda: logs_made(d) >= n and all(rl.read_starts(p) for p in s.logs()),
                    timeout=300, step=0.25)
        up = (max(rl.read_starts(p)[0][0] for p in s.logs()) - t0_ns) / 1e9
        time.sleep(2.0)
        lat = restarts(s, int(os.environ.get("RESTARTS", "10")))
        t = time.monotonic()
        s.p.send_signal(signal.SIGTERM)
        s.p.wait(120)
        stop = time.monotonic() - t
        # both wait for their programs before they exit; a scan of /proc
        # (100s of ms at 10,000) is not part of the figure unless one is left
        if victims_left(d):
            rl.wait_for(lambda: victims_left(d) == 0, timeout=60, step=0.01)
            stop = time.monotonic() - t
        return up, stop, lat
    finally:
        if s.p.poll() is None:
            s.p.kill()
            s.p.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    os.environ["TEND_BIN"] = sys.argv[1]
    n, trials = int(sys.argv[2]), int(sys.argv[3])
    rl.build_victim()
    got = {"floor": [], "tend": []}
    for _ in range(trials):
        for kind in ("floor", "tend"):
            got[kind].append(trial(kind, n))
            up, stop, lat = got[kind][-1]
            print(f"# {kind} n={n}: up all {up:.3f} s, stop all {stop:.3f} s" +
                  (f", restart median {statistics.median(lat):.2f} ms of {len(lat)}" if lat else ""),
                  file=sys.stderr, flush=True)
    for kind in ("floor", "tend"):
        ups = [u for u, _, _ in got[kind]]
        stops = [s for _, s, _ in got[kind]]
        lats = [x for _, _, lat in got[kind] for x in lat]
        if lats:
            print(f"{kind} | restart after SIGKILL, {n} programs (alternating) | {statistics.median(lats):.2f} ms | "
                  f"median of {len(lats)} kills, min {min(lats):.2f}; per trial: " +
                  " ".join(f"{statistics.median(lat):.2f}" for _, _, lat in got[kind]))
        print(f"{kind} | up all {n} programs (alternating) | {statistics.median(ups):.3f} s | "
              f"median of {trials}: " + " ".join(f"{u:.3f}" for u in ups))
        print(f"{kind} | stop all {n} programs (alternating) | {statistics.median(stops):.3f} s | "
              f"median of {trials}: " + " ".join(f"{s:.3f}" for s in stops))


if __name__ == "__main__":
    main()
