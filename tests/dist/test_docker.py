"""docker/Dockerfile built for real: podman build, two platforms, one manifest.

The build stage needs debian:bookworm-slim: the cached mmdebstrap root,
imported under that name (nothing is pulled). Its toolchain stage installs
g++ and the cross compilers from Debian's mirror (--network host: apt's
traffic only), which takes minutes, so this test keeps its own podman store
in $OXINIT_CACHE/dist-podman-DRIVER between runs (overlay when the kernel
can, else vfs, which copies every layer whole): the toolchain stage is tagged
localhost/dist-toolchain and reused while scripts/deps.sh and
build-aux/musl-machine.py are unchanged; everything else is removed after
each run. A lock keeps two runs apart.
"""
import atexit
import fcntl
import json
import os

from harness import test
from lib import BUSYBOX_PATH, CACHE, ROOT, debian_slim_tarball, machine_of, run, runner, version_line
from engine import CONF, Engine, _podman_base

_driver = {}
MANIFEST = "localhost/dist-oxinit:test"
TOOLCHAIN = "localhost/dist-toolchain:latest"
BASE = "docker.io/library/debian:bookworm-slim"
PLATFORMS = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
_state = {}


class Store(Engine):
    """Engine's podman plumbing over a store that outlives the run (no probe
    image, no removal at exit), with the given storage driver."""

    def __init__(self, d, driver):  # noqa: super().__init__ would make a temporary store
        self.dir = d
        self.base = _podman_base(d)
        self.base[self.base.index("--storage-driver") + 1] = driver
        self.env = dict(os.environ, CONTAINERS_CONF=CONF)
        self._images, self._names, self._seq = {}, [], 0


def store_dir():
    """The persistent store: overlay if podman can use it here, else vfs."""
    if "dir" not in _driver:
        for driver in ("overlay", "vfs"):
            d = os.path.join(CACHE, f"dist-podman-{driver}")
            os.makedirs(d, exist_ok=True)
            if Store(d, driver).podman("info", check=False, timeout=120).returncode == 0:
                _driver.update(dir=d, driver=driver)
                break
        assert "dir" in _driver, "podman can use neither overlay nor vfs in " + CACHE
    return _driver["dir"]


def podman(*args, check=True, timeout=120):
    return Store(store_dir(), _driver.get("driver", "vfs")).podman(*args, check=check, timeout=timeout)


def cleanup():
    """Everything but the base image and the toolchain stage (and its parents)."""
    podman("rm", "-a", "-f", check=False)
    podman("manifest", "rm", MANIFEST, check=False)
    podman("image", "prune", "-f", check=False, timeout=600)


def build_args():
    host = run(["dpkg", "--print-architecture"]).stdout.strip()
    return ["--network", "host", "--pull=never", "--build-arg", f"BUILDPLATFORM=linux/{host}",
            "--build-arg", "ARCHES=" + " ".join(PLATFORMS.values()),
            "--ignorefile", os.path.join(ROOT, "docker", "Dockerfile.dockerignore"),
            "-f", os.path.join(ROOT, "docker", "Dockerfile")]


def build():
    """Build once per suite; returns {arch: local image ID} of the manifest."""
    if "images" in _state:
        return _state["images"]
    assert "error" not in _state, _state.get("error")
    try:
        store = store_dir()
        lock = open(store + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        _state["lock"] = lock
        atexit.register(cleanup)
        cleanup()
        tarball = debian_slim_tarball()
        stamp = os.path.join(store, "base.imported")
        if podman("image", "exists", BASE, check=False).returncode != 0 or \
                not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(tarball):
            podman("import", "--change", 'CMD ["bash"]', tarball, BASE, timeout=600)
            open(stamp, "w").close()
        # The toolchain stage alone first, tagged so that cleanup keeps it.
        r = podman("build", *build_args(), "--target", "toolchain", "-t", TOOLCHAIN, ROOT, timeout=2400)
        print(f"   toolchain stage: {'cached' if 'Using cache' in r.stdout else 'built'}", flush=True)
        r = podman("build", *build_args(), "--platform", ",".join(PLATFORMS), "--manifest", MANIFEST,
                   ROOT, timeout=2400)
        _state["log"] = r.stdout
        digests = {m["digest"]: m["platform"]["architecture"]
                   for m in json.loads(podman("manifest", "inspect", MANIFEST).stdout)["manifests"]}
        # podman 4.3 resolves `create --platform X LIST` wrongly: find each
        # instance's local image by its manifest digest instead.
        ids = podman("images", "-a", "-q", "--no-trunc").stdout.split()
        images = {}
        for i in dict.fromkeys(ids):
            info = json.loads(podman("image", "inspect", i).stdout)[0]
            if info.get("Digest") in digests:
                images[digests[info["Digest"]]] = info["Id"]
        assert sorted(digests.values()) == sorted(images), (digests, images)
        _state["images"] = images
        return images
    except AssertionError as e:
        _state["error"] = str(e)
        raise


@test(timeout=2700)
def dockerfile_builds_one_manifest_of_two_architectures():
    images = build()
    assert sorted(images) == sorted(PLATFORMS.values()), f"manifest holds {sorted(images)}"
    for arch, image in images.items():
        info = json.loads(podman("image", "inspect", image).stdout)[0]
        assert info["Architecture"] == arch and info["Os"] == "linux", info["Architecture"]
        assert info["Config"]["Entrypoint"] == ["/sbin/oxinit", "--"], info["Config"]
        # FROM scratch + one file: a single small layer.
        assert len(info["RootFS"]["Layers"]) == 1 and info["Size"] < 200_000, (info["RootFS"], info["Size"])


@test(timeout=2700)
def dockerfile_image_runs_a_command_under_oxinit_as_pid1():
    image = build()["amd64"]
    script = "tr '\\0' ' ' < /proc/1/cmdline; echo; echo self-ppid=$PPID; exit 3"
    r = podman("run", "--rm", "--network", "none", "-v", f"{BUSYBOX_PATH}:/bin/busybox:ro",
               image, "/bin/busybox", "sh", "-c", script, check=False)
    assert r.returncode == 3, f"rc {r.returncode}:\n{r.stdout}{r.stderr}"
    assert r.stdout.startswith("/sbin/oxinit -- /bin/busybox sh -c"), r.stdout
    assert "self-ppid=1" in r.stdout, r.stdout


@test(timeout=2700)
def dockerfile_arm64_image_holds_an_arm64_binary_built_on_the_build_platform():
    """The arm64 image's /sbin/oxinit is an aarch64 ELF that runs (qemu-user),
    and the build stage ran natively (no emulation): its RUN steps are amd64."""
    image = build()["arm64"]
    cid = podman("create", "--platform", "linux/arm64", image).stdout.strip()
    out = os.path.join(store_dir(), "oxinit-arm64")
    try:
        podman("cp", f"{cid}:/sbin/oxinit", out)
    finally:
        podman("rm", "-f", cid, check=False)
    assert machine_of(out) == "arm64", machine_of(out)
    r = run([*runner("arm64"), out, "--version"], timeout=30)
    os.unlink(out)
    assert version_line().match(r.stdout.strip()), r.stdout + r.stderr
    host = run(["dpkg", "--print-architecture"]).stdout.strip()
    arch = podman("image", "inspect", "--format", "{{.Architecture}}", TOOLCHAIN).stdout.strip()
    assert arch == host, f"the toolchain stage is {arch}, not the build machine's {host}"
