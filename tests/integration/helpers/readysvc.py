"""Services for the readiness tests (test_ready.py). Every mode runs at most
60 s, then exits by itself; each writes "<mode> <monotonic time>" lines to
the log named by --log when something happens, for the test to order events.

  listen PORT [--delay S]      listen on 127.0.0.1:PORT after S seconds; accept and close
  http PORT --codes-file F     HTTP/1.1 server: each request answered with the code
                               read from F at that moment (200 when F is missing)
  notify [--delay S] [--child] [--watchdog N] [--status TEXT]
                               READY=1 to $NOTIFY_SOCKET after S seconds (from a forked
                               child with --child), then N WATCHDOG=1 pings 100 ms apart
  fdready FD [--delay S]       a newline to fd FD after S seconds
"""
import argparse
import os
import socket
import sys
import time

END = time.monotonic() + 60


def log(path, what):
    if path:
        with open(path, "a") as f:
            f.write(f"{what} {time.monotonic():.6f}\n")


def idle():
    while time.monotonic() < END:
        time.sleep(0.05)


def notify(msg):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), addr)
    s.close()


def listener(port, log_path):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    log(log_path, "listening")
    srv.settimeout(0.2)
    return srv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("arg", nargs="?")
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--log")
    ap.add_argument("--codes-file")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--watchdog", type=int, default=0)
    ap.add_argument("--status")
    a = ap.parse_args()
    time.sleep(a.delay)
    if a.mode == "listen":
        srv = listener(int(a.arg), a.log)
        while time.monotonic() < END:
            try:
                c, _ = srv.accept()
                c.close()
            except socket.timeout:
                pass
    elif a.mode == "http":
        srv = listener(int(a.arg), a.log)
        while time.monotonic() < END:
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            c.settimeout(2)
            try:
                req = b""
                while b"\r\n\r\n" not in req and len(req) < 8192:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    req += chunk
                try:
                    with open(a.codes_file) as f:
                        code = int(f.read().strip() or 200)
                except (OSError, ValueError, TypeError):
                    code = 200
                log(a.log, f"request-{code}")
                c.sendall(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            except OSError:
                pass
            c.close()
    elif a.mode == "notify":
        if a.status:
            notify(f"STATUS={a.status}")
        if a.child:
            pid = os.fork()
            if pid == 0:
                notify("READY=1")
                os._exit(0)
            os.waitpid(pid, 0)
        else:
            notify("READY=1")
        log(a.log, "ready-sent")
        for _ in range(a.watchdog):
            time.sleep(0.1)
            notify("WATCHDOG=1")
        log(a.log, "watchdog-stopped")
        idle()
    elif a.mode == "fdready":
        os.write(int(a.arg), b"\n")
        log(a.log, "ready-sent")
        idle()
    else:
        sys.exit(f"unknown mode {a.mode}")


if __name__ == "__main__":
    main()
