#!/usr/bin/env python3
"""Runs a command with every signal at its default disposition and unblocked.

Why: glibc's posix_spawn sets its internal signals 32 and 33 to SIG_IGN in
the child (sysdeps/unix/sysv/linux/spawni.c, is_internal_signal), and GNU
make starts recipes with posix_spawn, so under `make` every test process
inherits those two ignores and passes them on through exec. Tests that check
a service starts with nothing ignored then see bits 32 and 33. glibc's
sigaction() refuses 32 and 33, so this uses the raw rt_sigaction syscall.
Usage: with-default-signals.py COMMAND [ARGS...]
"""
import ctypes
import os
import sys

SYS_rt_sigaction = 13  # x86_64
SYS_rt_sigprocmask = 14


class KSigaction(ctypes.Structure):
    # struct kernel_sigaction on x86_64: handler, flags, restorer, mask.
    _fields_ = [("handler", ctypes.c_void_p), ("flags", ctypes.c_ulong),
                ("restorer", ctypes.c_void_p), ("mask", ctypes.c_uint64)]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: with-default-signals.py COMMAND [ARGS...]")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for sig in range(1, 65):
        if sig in (9, 19):  # SIGKILL, SIGSTOP
            continue
        old = KSigaction()
        libc.syscall(ctypes.c_long(SYS_rt_sigaction), ctypes.c_long(sig), None,
                     ctypes.byref(old), ctypes.c_long(8))
        if old.handler == 1:  # SIG_IGN: exec keeps it; caught handlers reset anyway
            new = KSigaction()
            libc.syscall(ctypes.c_long(SYS_rt_sigaction), ctypes.c_long(sig), ctypes.byref(new),
                         None, ctypes.c_long(8))
    empty = ctypes.c_uint64(0)
    libc.syscall(ctypes.c_long(SYS_rt_sigprocmask), ctypes.c_long(2), ctypes.byref(empty), None,
                 ctypes.c_long(8))
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
