#!/usr/bin/env python3
"""Smoke test of the benchmark harness: `bench/run.py --quick` must finish well
under a minute and print a table with every metric row and every init column,
so the harness cannot rot. It checks shape, not speed (the machine is noisy)."""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench"))
from harness import test, main, ROOT, OXINIT  # noqa: E402
import run as bench  # noqa: E402  (bench/run.py: the metric list and init names)

RUN = os.path.join(ROOT, "bench", "run.py")
_out = {}


def quick():
    """Run the quick mode once; every test reads the same output."""
    if not _out:
        for tool in ("/usr/bin/tini-static", "/usr/bin/dumb-init", "/usr/bin/catatonit"):
            assert os.access(tool, os.X_OK), f"{tool} missing: apt-get install -y tini dumb-init catatonit"
        assert os.access(OXINIT, os.X_OK), f"{OXINIT} missing: run `make`"
        with tempfile.TemporaryDirectory(prefix="oxbench-test.") as d:
            r = subprocess.run([sys.executable, RUN, "--quick", "--out", d],
                               capture_output=True, text=True, timeout=400,
                               env=dict(os.environ, OXINIT=OXINIT))
            _out.update(rc=r.returncode, stdout=r.stdout, stderr=r.stderr,
                        files=sorted(os.listdir(d)),
                        written=open(os.path.join(d, "quick.md")).read()
                        if os.path.exists(os.path.join(d, "quick.md")) else "")
    return _out


def table_rows(text):
    rows = [l for l in text.splitlines() if l.startswith("| ")]
    assert len(rows) >= 2, f"no table in:\n{text}"
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    body = {}
    for l in rows[1:]:
        cells = [c.strip() for c in l.strip("|").split("|")]
        body[cells[0]] = dict(zip(header, cells))
    return header, body


@test(timeout=420)
def quick_mode_runs_clean():
    o = quick()
    assert o["rc"] == 0, f"exit {o['rc']}\n{o['stdout']}\n{o['stderr']}"
    assert "## Errors" not in o["stdout"], o["stdout"]
    # ~20 s on an idle 2-core machine; wall time is reported, not asserted
    # (the machines are shared), beyond the 400 s bound on the run itself.
    m = re.search(r"took (\d+) s", o["stdout"])
    assert m, "the header does not say how long the run took"
    print(f"     quick mode took {m.group(1)} s")


@test(timeout=420)
def table_has_every_init_column():
    header, _ = table_rows(quick()["stdout"])
    for name, _, _, _ in bench.INITS:
        assert name in header, f"column {name} missing from {header}"


@test(timeout=420)
def table_has_every_metric_row_with_values():
    _, body = table_rows(quick()["stdout"])
    labels = [m[1] for m in bench.metrics(bench.QUICK)]
    for label in labels:
        assert label in body, f"row {label!r} missing"
    for label, row in body.items():
        for name, _, _, _ in bench.INITS:
            v = row[name]
            assert v and v != "ERR", f"{label}/{name}: empty cell"
            if name == "oxinit":
                assert v != "n/a", f"{label}: oxinit has no value"
    # A peer shows n/a only in a row where every peer does: a metric none of
    # them can do (services, their cgroups and checks, the control socket).
    # Rows of what they all do (start-up, reaping, signals) have every value.
    peers = ("tini", "dumb-init", "catatonit")
    oxinit_only = 0
    for label, row in body.items():
        na = [row[name] == "n/a" for name in peers]
        assert all(na) or not any(na), f"{label}: n/a for some peers only: {row}"
        oxinit_only += all(na)
    for label in ("`INIT -- /bin/true` as PID 1, wall (µs)",):
        assert all(body[label][name] != "n/a" for name in peers), body[label]
    assert oxinit_only < len(body) - 5, "peers have almost no values"


@test(timeout=420)
def header_names_machine_and_date_and_file_is_written():
    o = quick()
    assert re.search(r"- date: \d{4}-\d\d-\d\d", o["stdout"]), o["stdout"][:400]
    assert re.search(r"- machine: Linux \S+, \d+ cores, ", o["stdout"]), o["stdout"][:400]
    assert o["files"] == ["quick.md"], o["files"]
    assert o["written"] == o["stdout"], "the written file differs from what was printed"


if __name__ == "__main__":
    main("bench")
