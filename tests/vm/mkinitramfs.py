#!/usr/bin/env python3
"""Build a newc cpio archive (an initramfs) from a staging directory.

Stdlib only. Every entry is owned by root (uid/gid 0) with a fixed mtime, so no
root privileges or fakeroot are needed and the archive is reproducible. The
format is the kernel's "newc" (Documentation/driver-api/early-userspace/
buffer-format.rst): a 110-byte ASCII header, the NUL-terminated name, padding
to 4 bytes, the data, padding to 4 bytes; ends with "TRAILER!!!".

Usage: mkinitramfs.py STAGING_DIR OUT.cpio [--node PATH:MODE:c|b:MAJOR:MINOR]...
(--node adds a device node, e.g. dev/console:600:c:5:1, as the kernel's own
default initramfs does: init gets fds 0/1/2 from /dev/console.)
"""
import os
import stat
import sys

MTIME = 1700000000


def _header(ino, mode, nlink, size, rmaj, rmin, name):
    fields = [ino, mode, 0, 0, nlink, MTIME, size, 0, 0, rmaj, rmin, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def _pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def build(staging, out, nodes=()):
    """Write the archive; nodes: iterable of (path, mode, 'c'|'b', major, minor)."""
    entries = []  # (name, mode, data, rmaj, rmin)
    for dirpath, dirnames, filenames in os.walk(staging):
        dirnames.sort()
        rel = os.path.relpath(dirpath, staging)
        if rel != ".":
            st = os.lstat(dirpath)
            entries.append((rel, stat.S_IFDIR | (st.st_mode & 0o7777), b"", 0, 0))
        for f in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = os.path.join(dirpath, f)
            name = os.path.normpath(os.path.join(rel, f))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                entries.append((name, stat.S_IFLNK | 0o777, os.readlink(p).encode(), 0, 0))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    entries.append((name, stat.S_IFREG | (st.st_mode & 0o7777), fh.read(), 0, 0))
    for path, mode, kind, major, minor in nodes:
        parent = os.path.dirname(path)
        if parent and not any(e[0] == parent for e in entries):
            entries.append((parent, stat.S_IFDIR | 0o755, b"", 0, 0))
        t = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
        entries.append((path, t | mode, b"", major, minor))
    with open(out, "wb") as fh:
        for ino, (name, mode, data, rmaj, rmin) in enumerate(entries, start=1):
            nb = name.encode()
            hdr = _header(ino, mode, 1, len(data), rmaj, rmin, nb) + nb + b"\0"
            fh.write(hdr + _pad(len(hdr)) + data + _pad(len(data)))
        tr = _header(0, 0, 1, 0, 0, 0, b"TRAILER!!!") + b"TRAILER!!!\0"
        fh.write(tr + _pad(len(tr)))


def parse_node(s):
    path, mode, kind, major, minor = s.split(":")
    if kind not in ("c", "b"):
        raise ValueError(f"bad node kind in {s!r}")
    return (path.lstrip("/"), int(mode, 8), kind, int(major), int(minor))


if __name__ == "__main__":
    args = sys.argv[1:]
    nodes = []
    while "--node" in args:
        i = args.index("--node")
        nodes.append(parse_node(args[i + 1]))
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    build(args[0], args[1], nodes)
