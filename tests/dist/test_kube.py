"""examples/kubernetes/ under `podman kube play` (podman 4.3, the engine here).

The manifests name localhost/oxinit-busybox:latest; the tests build that
image (busybox + build/oxinit) as localhost/dist-kube:test and substitute it.
Some tests pin podman 4.3's own behaviour that docs/kubernetes.md describes
(names starting with podman43_): when one fails, podman changed, and the
document must change with it.
"""
import os
import re
import subprocess
import time

from harness import test, wait_until
from lib import BUSYBOX_PATH, ROOT, engine

EXAMPLES = os.path.join(ROOT, "examples", "kubernetes")
IMAGE = "localhost/dist-kube:test"
SLOW_WEB = ("echo web: stopped; exit 0", "echo web: stopping slowly; sleep 3; echo web: stopped; exit 0")


def kube_image(e):
    if getattr(kube_image, "done", None) is not e:
        e.build_image(IMAGE, [("busybox", BUSYBOX_PATH), ("oxinit", e.oxinit)],
                      "FROM scratch\nCOPY busybox /bin/busybox\n"
                      "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
                      "RUN mkdir -p /tmp && chmod 1777 /tmp\nCOPY oxinit /sbin/oxinit\n")
        kube_image.done = e
    return IMAGE


def manifest(e, name, slow_web=False):
    """examples/kubernetes/NAME with the test image (and a web service that
    takes 3 s to stop); returns the path of the copy."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read().replace("localhost/oxinit-busybox:latest", kube_image(e))
    if slow_web:
        assert SLOW_WEB[0] in text
        text = text.replace(*SLOW_WEB)
    path = os.path.join(e.dir, f"{'slow-' if slow_web else ''}{name}")
    with open(path, "w") as f:
        f.write(text)
    return path


def play(e, path, pod):
    e.podman("pod", "rm", "-f", pod, check=False)
    e.podman("kube", "play", path, timeout=180)


def ordered(out, *needles):
    pos = [out.find(n) for n in needles]
    assert all(p >= 0 for p in pos), f"missing {[n for n, p in zip(needles, pos) if p < 0]}:\n{out}"
    assert pos == sorted(pos), f"not in the order {needles}:\n{out}"


def seconds(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", s)
    assert m, s
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


@test
def grace_period_exceeds_the_stop_timeouts():
    """terminationGracePeriodSeconds > every stop_timeout + shutdown_timeout
    (the services stop one after another, so the sum bounds the stop)."""
    for name in sorted(os.listdir(EXAMPLES)):
        with open(os.path.join(EXAMPLES, name)) as f:
            text = f.read()
        grace = int(re.search(r"terminationGracePeriodSeconds:\s*(\d+)", text).group(1))
        stops = [seconds(v) for v in re.findall(r'stop_timeout = "([^"]+)"', text)]
        services = len(re.findall(r"^\s*\[service\.", text, re.M))
        stops += [10.0] * (services - len(stops))  # the default stop_timeout
        shutdown = re.search(r'shutdown_timeout = "([^"]+)"', text)
        total = sum(stops) + (seconds(shutdown.group(1)) if shutdown else 2.0)
        assert grace > total, f"{name}: grace {grace}s <= {total}s of stop timeouts"


@test(timeout=300)
def pod_stop_stops_the_services_in_order():
    e = engine()
    play(e, manifest(e, "pod.yaml"), "oxinit-demo")
    try:
        e.wait_log("oxinit-demo-app", "worker: working", timeout=60)
        t0 = time.monotonic()
        # -t: podman 4.3 ignores terminationGracePeriodSeconds (docs/kubernetes.md).
        e.podman("pod", "stop", "-t", "30", "oxinit-demo", timeout=90)
        took = time.monotonic() - t0
        out = e.logs("oxinit-demo-app")
        # web and worker start once setup has exited 0 (worker after web is
        # spawned, so their first lines may come in either order); they stop
        # in reverse: worker first.
        ordered(out, "setup: done", "web: serving", "worker: stopped", "web: stopped")
        ordered(out, "setup: done", "worker: working", "worker: finishing the job", "worker: stopped")
        assert e.exit_code("oxinit-demo-app") == 0, out
        assert took < 20, f"pod stop took {took:.1f}s"
        print(f"   pod stop: {took:.1f}s, worker then web, exit 0")
    finally:
        e.podman("pod", "rm", "-f", "oxinit-demo", check=False)


@test(timeout=300)
def the_health_probe_follows_the_services():
    """pod.yaml's probes run `oxinit ctl health`; podman turns the
    livenessProbe into the container's healthcheck. Its exit code follows the
    services: web failing (in its restart backoff) makes it 1, web back up 0."""
    e = engine()
    flaky = ("echo web: serving;", "test -e /tmp/fail && exit 3; echo web: serving;")
    path = manifest(e, "pod.yaml")
    with open(path) as f:
        text = f.read()
    assert flaky[0] in text
    with open(path, "w") as f:
        f.write(text.replace(*flaky))
    play(e, path, "oxinit-demo")
    app = "oxinit-demo-app"
    try:
        e.wait_log(app, "worker: working", timeout=60)

        def health(code):
            r = e.podman("healthcheck", "run", app, check=False, timeout=30)
            return r.returncode == code and r
        wait_until(lambda: health(0), timeout=60, step=0.5, what="healthcheck run: healthy")
        r = e.podman("exec", app, "/sbin/oxinit", "ctl", "health", check=False, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("healthy: 3 services"), (r.stdout, r.stderr)
        exec_sh(e, app, "touch /tmp/fail && /sbin/oxinit ctl signal web KILL")
        wait_until(lambda: health(1), timeout=60, step=0.5, what="healthcheck run: unhealthy")
        r = e.podman("exec", app, "/sbin/oxinit", "ctl", "health", check=False, timeout=30)
        assert r.returncode == 1 and r.stderr.startswith("unhealthy: web is "), (r.stdout, r.stderr)
        exec_sh(e, app, "rm /tmp/fail")
        wait_until(lambda: health(0), timeout=60, step=0.5, what="healthcheck run: healthy again")
        st = e.podman("exec", app, "/sbin/oxinit", "ctl", "status", check=False, timeout=30).stdout
        assert re.search(r"^web\s+ready", st, re.M), st
    finally:
        e.podman("pod", "rm", "-f", "oxinit-demo", check=False)


def exec_sh(e, ctr, script):
    return e.podman("exec", ctr, "sh", "-c", script, check=False, timeout=30).stdout


PROCS = r"""for s in /proc/[0-9]*/status; do
  n=$(awk '/^Name:/{print $2}' $s 2>/dev/null); p=$(awk '/^PPid:/{print $2}' $s 2>/dev/null)
  st=$(awk '/^State:/{print $2}' $s 2>/dev/null); echo "${s#/proc/} $n $p $st"
done; echo "pid1=$(cat /proc/1/comm)"
"""


@test(timeout=300)
def shared_pid_namespace_oxinit_is_a_subreaper_and_reaps_its_orphans():
    e = engine()
    play(e, manifest(e, "pod-shared-pid.yaml"), "oxinit-shared")
    app = "oxinit-shared-app"
    try:
        e.wait_log(app, "spawner: left an orphan", timeout=60)
        out = exec_sh(e, app, PROCS)
        assert "pid1=catatonit" in out or "pid1=pause" in out, f"PID 1 is not the pause process:\n{out}"
        oxinit_pid = re.search(r"^(\d+)/status oxinit ", out, re.M)
        assert oxinit_pid, out
        me = oxinit_pid.group(1)

        def orphan_of_oxinit():
            o = exec_sh(e, app, PROCS)
            return re.search(rf"^\d+/status sleep {me} ", o, re.M)
        wait_until(orphan_of_oxinit, timeout=30, step=0.2, what="a service's orphan re-parented to oxinit")
        e.wait_log(app, "Reaped zombie process with pid=", timeout=30)
        out = exec_sh(e, app, PROCS)
        assert not re.search(r" Z$", out, re.M), f"a zombie is left:\n{out}"
        # The workaround of docs/kubernetes.md: stop oxinit's container on its own.
        e.podman("stop", "-t", "30", app, timeout=90)
        logs = e.logs(app)
        ordered(logs, "spawner: stopped", "web: stopped")
        assert e.exit_code(app) == 0, logs
        assert e.state("oxinit-shared-sidecar")["Status"] == "running", \
            "oxinit's stop reached another container's process"
    finally:
        e.podman("pod", "rm", "-f", "oxinit-shared", check=False)


@test(timeout=300)
def podman43_pod_stop_with_a_shared_pid_namespace_kills_early():
    """docs/kubernetes.md: `podman pod stop` stops the pause process with the
    rest; once PID 1 of the shared namespace exits, the kernel SIGKILLs
    everything in it, in the middle of oxinit's ordered stop."""
    e = engine()
    play(e, manifest(e, "pod-shared-pid.yaml", slow_web=True), "oxinit-shared")
    app = "oxinit-shared-app"
    try:
        e.wait_log(app, "spawner: left an orphan", timeout=60)
        e.podman("pod", "stop", "-t", "30", "oxinit-shared", timeout=90)
        logs = e.logs(app)
        assert e.exit_code(app) == 137 and "web: stopped" not in logs, \
            f"podman's pod stop no longer kills early: update docs/kubernetes.md\n{logs}"
    finally:
        e.podman("pod", "rm", "-f", "oxinit-shared", check=False)


@test(timeout=300)
def podman43_kube_down_kills_without_sigterm():
    """docs/kubernetes.md: `podman kube down` SIGKILLs the containers at once
    (podman #22397, fixed in 2024): no service sees its stop signal."""
    e = engine()
    path = manifest(e, "pod.yaml", slow_web=True)
    play(e, path, "oxinit-demo")
    follower = None
    try:
        e.wait_log("oxinit-demo-app", "worker: working", timeout=60)
        follower = e.popen("logs", "-f", "oxinit-demo-app", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(1)
        e.podman("kube", "down", path, timeout=90)
        out, _ = follower.communicate(timeout=30)
        out = out.decode(errors="replace")
        assert "worker: working" in out, out
        assert "finishing the job" not in out and "web: stop" not in out, \
            f"kube down sent a stop signal: update docs/kubernetes.md\n{out}"
    finally:
        if follower and follower.poll() is None:
            follower.kill()
            follower.wait()
        e.podman("pod", "rm", "-f", "oxinit-demo", check=False)
