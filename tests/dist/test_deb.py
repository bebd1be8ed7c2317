"""dist/oxinit_VERSION_ARCH.deb: apt-get install in a Debian 12 container
(the cached mmdebstrap root), then remove; nothing touches the host."""
import os
import subprocess

from harness import test
from lib import DIST, arches, dist_version, engine, run

CHECK = r"""
set -e
apt-get install -y /dist/{deb} > /tmp/apt.log 2>&1 || {{ cat /tmp/apt.log; exit 1; }}
dpkg-query -W -f='${{Status}} ${{Version}} ${{Architecture}}\n' oxinit
ls -l /sbin/oxinit
zcat /usr/share/man/man8/oxinit.8.gz | grep '^\.TH'
zcat /usr/share/man/man5/oxinit.toml.5.gz | grep '^\.TH'
ls /usr/share/doc/oxinit
set +e
/sbin/oxinit -- sh -c 'exit 3'; echo "pid1-run=$?"
/sbin/oxinit --version
set -e
apt-get remove -y oxinit > /tmp/apt.log 2>&1 || {{ cat /tmp/apt.log; exit 1; }}
test ! -e /sbin/oxinit && test ! -e /usr/share/man/man8/oxinit.8.gz && echo removed
"""


def host_arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


@test
def deb_for_every_dist_arch():
    ver = dist_version()
    for arch in arches():
        deb = os.path.join(DIST, f"oxinit_{ver}_{arch}.deb")
        assert os.path.isfile(deb), f"{deb} missing: run make deb"
        r = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:3] == ["Package: oxinit", f"Version: {ver}", f"Architecture: {arch}"], r.stdout
        assert "Depends" not in r.stdout, "a static binary depends on nothing"
        files = run(["dpkg-deb", "-c", deb]).stdout
        for path in ("./sbin/oxinit", "./usr/share/man/man8/oxinit.8.gz",
                     "./usr/share/man/man5/oxinit.toml.5.gz", "./usr/share/doc/oxinit/copyright",
                     "./usr/share/doc/oxinit/README.md"):
            assert f" {path}\n" in files + "\n", f"{deb}: no {path}:\n{files}"


@test(timeout=900)
def apt_get_install_deb_in_debian_12():
    e = engine(debian=True)
    deb = f"oxinit_{dist_version()}_{host_arch()}.deb"
    r = e.podman("run", "--rm", "--network", "none", "-v", f"{DIST}:/dist:ro",
                 "docker.io/library/debian:bookworm-slim", "sh", "-c", CHECK.format(deb=deb),
                 check=False, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"rc {r.returncode}:\n{out}"
    assert f"install ok installed {dist_version()} {host_arch()}" in out, out
    assert ".TH OXINIT 8" in out and ".TH OXINIT.TOML 5" in out, out
    assert "pid1-run=3" in out and "removed" in out, out
