#!/usr/bin/env python3
"""Docs suite: the README guide, the man pages and the reference stay true.

Run: python3 tests/docs/run.py [-k NAME]   (`make docs`; `make test` runs it)
The man pages are generated from docs/*.[0-9].md by scripts/mkman.py; these
tests fail when a committed page is stale, when groff warns about one, when
an option or a config key has no entry, or when a link points nowhere.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import test, main, OXINIT, ROOT  # noqa: E402

MAN_PAGES = ["man/oxinit.8", "man/oxinit.toml.5"]


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def terms(md):
    """The '#### term' headings of a Markdown source, markup removed."""
    return [t.replace("`", "").strip() for t in re.findall(r"^#### (.+)$", md, re.M)]


@test
def man_pages_are_generated_from_their_sources():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "mkman.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"mkman --check: {r.stdout}{r.stderr}"


@test
def man_pages_are_clean_under_groff():
    assert shutil.which("groff"), "groff missing: apt-get install groff-base (scripts/deps.sh)"
    for page in MAN_PAGES:
        for extra in ([], ["-Tutf8"]):
            r = subprocess.run(["groff", "-man", "-ww", "-z", *extra, os.path.join(ROOT, page)],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and not r.stderr, \
                f"groff -man -ww -z {' '.join(extra)} {page}: rc {r.returncode}\n{r.stderr}"
        # And it renders to something with the expected sections.
        r = subprocess.run(["groff", "-man", "-Tutf8", os.path.join(ROOT, page)],
                           capture_output=True, text=True, timeout=60)
        text = re.sub(r".\x08", "", r.stdout)  # grotty's overstrike bold
        assert "SEE ALSO" in text and "NAME" in text, text[:500]


@test
def every_option_and_variable_has_an_entry_in_oxinit_8():
    """The usage text oxinit prints is the list of what exists."""
    r = subprocess.run([OXINIT, "-h"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    opts = set(re.findall(r"^  (--?[a-zA-Z-]+)", r.stdout, re.M))
    opts |= set(re.findall(r"/ (--[a-z-]+):", r.stdout))
    env = set(re.findall(r"\b((?:TINI|OXINIT)_[A-Z_]+)\b", r.stdout))
    assert len(opts) >= 10 and len(env) >= 6, (opts, env)
    documented = set()
    for t in terms(read("docs/oxinit.8.md")):
        for part in t.split(","):
            documented.add(part.split()[0] if part.split() else "")
    missing = sorted((opts | env) - documented)
    assert not missing, f"no '#### ...' entry in docs/oxinit.8.md for: {missing}"


def schema_keys():
    """The key lists of src/config/schema.cc, {list name: [keys]}: every
    `k...Keys[] = ...;` definition, whether a packed string ("a\\0b\\0"), a
    plain list ({"a", "b"}) or a table whose entries start with the name
    ({"a", ...} or X("a", ...))."""
    src = read("src/config/schema.cc")
    # An X-macro list (#define SERVICE_KEYS(X) X("type", ...) \ ...) stands
    # in for its entries where a table is made from it.
    for macro, body in re.findall(r"#define (\w+)\(X\)((?:[^\n]*\\\n)*[^\n]*)", src):
        src = re.sub(rf"\b{macro}\(\w+\)", lambda _m, b=body: b.replace("\\\n", "\n"), src)
    lists = {}
    for name, body in re.findall(r"constexpr\s+\w+\s+(k\w*Keys)\[\][^=]*=(.*?);\n", src, re.S):
        lits = re.findall(r'"([^"]*)"', body)
        if len(lits) == 1 or "\\0" in "".join(lits):
            lists[name] = [k for k in "".join(lits).split("\\0") if k]
        elif body.count("{") == 1 and "(" not in body:  # a plain list: {"a", "b"}
            lists[name] = lits
        else:
            lists[name] = re.findall(r'[{(]\s*"([a-z_0-9]+)"', body)
    return lists


def documented_keys():
    """{table heading: [keys]} of docs/oxinit.toml.5.md."""
    out, table = {}, None
    for ln in read("docs/oxinit.toml.5.md").splitlines():
        if ln.startswith("## "):
            table = ln[3:].strip()
        m = re.fullmatch(r"#### `([a-z_0-9]+)`", ln)
        if m and table and table.startswith("["):
            out.setdefault(table, []).append(m.group(1))
    return out


@test
def every_config_key_has_an_entry_in_oxinit_toml_5():
    lists = schema_keys()
    keys = {k for name, ks in lists.items() if name != "kRootKeys" for k in ks}
    assert len(keys) >= 20, f"could not read the key lists of src/config/schema.cc: {lists}"
    documented = {k for ks in documented_keys().values() for k in ks}
    missing = sorted(keys - documented)
    stale = sorted(documented - keys)
    assert not missing, f"keys without a '#### `key`' section in docs/oxinit.toml.5.md: {missing}"
    assert not stale, f"docs/oxinit.toml.5.md documents keys the schema does not know: {stale}"


@test
def every_documented_key_is_known_to_oxinit():
    """The other direction, asked of the binary: no documented key is an
    'unknown key' (a wrong value type is fine: the name was recognised)."""
    import tempfile
    tables = documented_keys()
    assert "[init]" in tables and "[service.NAME]" in tables, list(tables)
    with tempfile.TemporaryDirectory() as d:
        for table, ks in tables.items():
            for k in ks:
                head = table.replace("NAME", "x")
                body = f'{head}\n{k} = "1"\n'
                if head != "[service.x]":
                    body += '[service.y]\ncommand = "true"\n'
                elif k != "command":
                    body += 'command = "true"\n'
                path = os.path.join(d, "k.toml")
                with open(path, "w") as f:
                    f.write(body)
                r = subprocess.run([OXINIT, "--check", "-c", path], capture_output=True,
                                   text=True, timeout=10)
                assert "unknown key" not in r.stderr, f"{table} {k}: {r.stderr}"


@test(timeout=600)
def make_install_puts_the_man_pages_under_prefix():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={d}", "PREFIX=/opt/ox"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        for path in ("sbin/oxinit", "opt/ox/share/man/man8/oxinit.8", "opt/ox/share/man/man5/oxinit.toml.5"):
            assert os.path.isfile(os.path.join(d, path)), f"make install: no {path}"
        with open(os.path.join(d, "opt/ox/share/man/man8/oxinit.8")) as f, \
                open(os.path.join(ROOT, "man/oxinit.8")) as g:
            assert f.read() == g.read()


@test
def readme_starts_with_the_two_commands():
    md = read("README.md")
    first_section = re.search(r"^## .*$", md, re.M)
    first_block = re.search(r"```sh\n(.*?)```", md, re.S)
    assert first_section and first_block, "README has no section or no sh block"
    assert first_block.start() < re.search(r"^## .*$", md[first_section.end():], re.M).start() \
        + first_section.end(), "the first sh block is not in the first section"
    cmds = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.strip()]
    assert cmds == ["make demo", "make test"], cmds
    assert first_section.start() < 1000, "the two commands come after a long preamble"


@test
def readme_is_a_short_guide():
    n = len(read("README.md").splitlines())
    assert n <= 260, f"README.md has {n} lines; the reference belongs in docs/"


@test
def relative_links_point_to_files_and_headings():
    bad = []
    files = ["README.md"] + ["docs/" + f for f in sorted(os.listdir(os.path.join(ROOT, "docs")))
                             if f.endswith(".md")]
    for rel in files:
        md = read(rel)
        md = re.sub(r"```.*?```", "", md, flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", md):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(ROOT, os.path.dirname(rel), path)) if path \
                else os.path.join(ROOT, rel)
            if not os.path.exists(full):
                bad.append(f"{rel}: {target} (no such file)")
                continue
            if anchor and full.endswith(".md"):
                with open(full, encoding="utf-8") as f:
                    heads = re.findall(r"^#+ (.+)$", f.read(), re.M)
                slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}
                if anchor not in slugs:
                    bad.append(f"{rel}: {target} (no such heading)")
    assert not bad, "broken links:\n" + "\n".join(bad)


if __name__ == "__main__":
    main("docs")
