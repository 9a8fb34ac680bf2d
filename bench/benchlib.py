"""Shared helpers of the benchmark drivers (bench/dht-bootstrap, bench/onion-relay):
child processes (pinned, niced, killed with the driver), /proc readers, the
private network namespace, and parsing the generators' key=value lines."""
import ctypes
import glob
import os
import shutil
import signal
import subprocess
import sys

PROG = "bench"  # prefix of error messages; set by configure()
NICE = 0        # nice value of every child; set by configure()
CHILDREN = []   # Popen objects we started, stopped by pid at exit

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def configure(prog, nice):
    global PROG, NICE
    PROG, NICE = prog, nice


def die(msg):
    sys.exit(f"{PROG}: {msg}")


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


# ---- process handling ----

def _child_setup():
    # Die with the benchmark even if it is killed outright.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if NICE:
        # Each child runs in its own session (start_new_session), hence in its
        # own scheduler autogroup when CONFIG_SCHED_AUTOGROUP is on: a plain
        # nice value only counts inside an autogroup, so set the group's too.
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(NICE))
        except OSError:
            pass
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def spawn(argv, log_path, cpu=None):
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + list(argv)
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=_child_setup, close_fds=True, start_new_session=True)
    log.close()
    p.log_path = log_path
    CHILDREN.append(p)
    return p


def stop(p, timeout=5.0):
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def stop_all():
    for p in list(CHILDREN):
        stop(p)


def run_tool(argv, cpu=None, timeout=600, may_fail=None):
    """Runs a tool to completion; exits on failure unless may_fail (default:
    the tool is a probe, whose failure the caller reports)."""
    if may_fail is None:
        may_fail = "probe" in argv
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + list(argv)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, preexec_fn=_child_setup, start_new_session=True)
    if r.returncode != 0 and not may_fail:
        die(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def kv(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v) if any(ch in v for ch in ".e") or not v.lstrip("-").isdigit() \
                    else int(v)
            except ValueError:
                out[k] = v
    return out


# ---- /proc readers ----

def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_ctx_switches(pid):
    """voluntary + nonvoluntary context switches, summed over all threads."""
    total = 0
    for st in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(st) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def proc_runtime_ns(pid):
    total = 0
    for st in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(st) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            pass
    return total


def proc_status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def udp_port_bound(port):
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    local = line.split()[1]
                    if int(local.split(":")[1], 16) == port:
                        return True
        except FileNotFoundError:
            pass
    return False


# ---- network namespace ----

NETNS_MARK = "TOXWIRE_BENCH_IN_NETNS"


def enter_netns(script):
    """Re-executes script (with our arguments) under `unshare -n`, then, in
    the new namespace, brings loopback up and returns."""
    if os.environ.get(NETNS_MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        die("must run as root (it uses unshare -n and taskset)")
    if not shutil.which("unshare"):
        die("unshare not found")
    env = dict(os.environ, **{NETNS_MARK: "1"})
    os.execvpe("unshare", ["unshare", "-n", "--", sys.executable, os.path.abspath(script)]
               + sys.argv[1:], env)
