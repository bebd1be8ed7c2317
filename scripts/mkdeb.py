#!/usr/bin/env python3
"""`make deb`: dist/oxinit_VERSION_ARCH.deb from the binaries of `make dist`.

    scripts/mkdeb.py [ARCH...]      (default: every arch with a binary in dist/)

A staged tree packed with `dpkg-deb --build --root-owner-group`:
  /sbin/oxinit                              the static binary (no Depends)
  /usr/share/man/man8/oxinit.8.gz, man5/oxinit.toml.5.gz
  /usr/share/doc/oxinit/                    README.md, the guides, copyright
  /usr/share/doc/oxinit/examples/           services.toml, kubernetes/
Stdlib only.
"""
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
from dist import DIST, version  # noqa: E402

ROOT = os.path.dirname(ROOT)
MAN = ["man/oxinit.8", "man/oxinit.toml.5"]
DOCS = ["README.md", "docs/containers.md", "docs/kubernetes.md", "docs/microvm.md",
        "docs/guarantees.md", "docs/oxinit.8.md", "docs/oxinit.toml.5.md"]
EXAMPLES = ["examples/services.toml", "examples/kubernetes"]

# HOOK (operate issue, `oxinit ctl`): once src/ has `oxinit ctl` and oxinit
# dispatches on argv[0] == "oxinitctl", set this to True: the package then
# ships /usr/bin/oxinitctl -> /sbin/oxinit. Until then there is no link.
CTL_LINK = False


def source_date_epoch():
    """Timestamps from the last commit, so a rebuild gives the same package."""
    r = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%ct"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "0"


def gzip_to(src, dst, epoch):
    with open(src, "rb") as f:
        data = f.read()
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=int(epoch)) as g:
            g.write(data)
    os.chmod(dst, 0o644)


def copy(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)


def stage(tree, arch, ver, epoch):
    binary = os.path.join(DIST, f"oxinit-{ver}-linux-{arch}")
    copy(binary, os.path.join(tree, "sbin/oxinit"))
    os.chmod(os.path.join(tree, "sbin/oxinit"), 0o755)
    if CTL_LINK:
        os.makedirs(os.path.join(tree, "usr/bin"), exist_ok=True)
        os.symlink("/sbin/oxinit", os.path.join(tree, "usr/bin/oxinitctl"))
    for page in MAN:
        section = page.rsplit(".", 1)[1]
        gzip_to(os.path.join(ROOT, page),
                os.path.join(tree, f"usr/share/man/man{section}", os.path.basename(page) + ".gz"), epoch)
    doc = os.path.join(tree, "usr/share/doc/oxinit")
    for d in DOCS:
        copy(os.path.join(ROOT, d), os.path.join(doc, os.path.basename(d)))
    for e in EXAMPLES:
        if os.path.exists(os.path.join(ROOT, e)):
            copy(os.path.join(ROOT, e), os.path.join(doc, "examples", os.path.basename(e)))
    with open(os.path.join(ROOT, "LICENSE")) as f:
        licence = f.read()
    with open(os.path.join(doc, "copyright"), "w") as f:
        f.write("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
                "Upstream-Name: oxinit\n\nFiles: *\nLicense: MIT\n"
                + "".join(" " + ln if ln.strip() else " .\n" for ln in licence.splitlines(True)))
    for dirpath, dirnames, filenames in os.walk(tree):
        for n in dirnames:
            os.chmod(os.path.join(dirpath, n), 0o755)
        for n in filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p) and p != os.path.join(tree, "sbin/oxinit"):
                os.chmod(p, 0o644)
    size_kb = sum(os.path.getsize(os.path.join(dp, n)) for dp, _, ns in os.walk(tree) for n in ns
                  if not os.path.islink(os.path.join(dp, n))) // 1024 + 1
    os.makedirs(os.path.join(tree, "DEBIAN"))
    with open(os.path.join(tree, "DEBIAN", "control"), "w") as f:
        f.write(f"""Package: oxinit
Version: {ver}
Architecture: {arch}
Maintainer: oxinit developers <oxinit@localhost>
Installed-Size: {size_kb}
Section: admin
Priority: optional
Homepage: https://github.com/oxinit/oxinit
Description: tiny static PID 1 for containers and microVMs
 A drop-in replacement for tini (same options, TINI_* variables and exit
 codes) that reaps zombies and forwards signals as PID 1 of a container,
 supervises several services from one TOML file (start order, restarts,
 ordered stop, prefixed output) and can be the init of a microVM.
 .
 The binary is static (musl), so it can be copied into any image.
""")


def main(arches):
    ver = version()
    if not arches:
        pat = re.compile(rf"oxinit-{re.escape(ver)}-linux-(\w+)$")
        arches = sorted(m.group(1) for m in map(pat.match, os.listdir(DIST)) if m)
    if not arches:
        print("mkdeb: no binaries in dist/: run make dist", file=sys.stderr)
        return 1
    epoch = source_date_epoch()
    for arch in arches:
        with tempfile.TemporaryDirectory() as tmp:
            tree = os.path.join(tmp, "oxinit")
            stage(tree, arch, ver, epoch)
            out = os.path.join(DIST, f"oxinit_{ver}_{arch}.deb")
            subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, out], check=True,
                           stdout=subprocess.DEVNULL, env=dict(os.environ, SOURCE_DATE_EPOCH=epoch))
            print(f"mkdeb: {os.path.relpath(out, ROOT)} ({os.path.getsize(out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
