"""Config and command-line values (issue 11): numbers that once wrapped, --check --root, "did you mean"."""
import os
import re

from harness import test
from lib import run, tmpdir, write_config


def refused(d, body, pattern):
    """A config with one bad line is refused before anything starts: exit 1, FILE:LINE:COL: KEY: message."""
    cfg = write_config(d, f'[service.a]\ncommand = "touch {d}/started; exec sleep 100"\n{body}\n')
    code, out, err = run(["-c", cfg], timeout=20)
    assert code == 1, (body, code, err)
    assert re.search(re.escape(cfg) + pattern, err), (body, err)
    assert not os.path.exists(f"{d}/started"), body


@test
def uid_past_2_to_the_64_is_a_config_error():
    # 2^64 + 1 ran the service as uid 1, 2^64 as root; (uid_t)-1 means "unchanged" to setuid.
    d = tmpdir()
    for uid in ("18446744073709551617", "18446744073709551616", "4294967295"):
        refused(d, f'user = "{uid}"', rf':3:8: user: invalid user id "{uid}"$')
        refused(d, f'group = "{uid}"', rf':3:9: group: invalid group id "{uid}"$')
    refused(d, "user = 18446744073709551617", r':3:8: user: integer out of range: "18446744073709551617"$')


@test
def twenty_digit_stop_signal_is_a_config_error():
    # 2^64 + 15 was SIGTERM.
    d = tmpdir()
    refused(d, 'stop_signal = "18446744073709551631"', r':3:15: stop_signal: expected a signal .*"18446744073709551631"$')
    refused(d, "stop_signal = 99999999999999999999", r':3:15: stop_signal: integer out of range: "99999999999999999999"$')
    refused(d, 'reload_signal = "SIGRTMIN+18446744073709551617"', r":3:17: reload_signal: expected a signal")
    refused(d, 'stop_timeout = "18446744073709551617ms"', r":3:16: stop_timeout: expected a duration")


@test
def wrapped_numbers_on_the_command_line_are_refused():
    d = tmpdir()
    for args in (["-e", "18446744073709551616"], ["-t", "18446744073709551617"], ["-G", "18446744073709551617ms"],
                 ["-r", "18446744073709551631:SIGQUIT"]):
        code, out, err = run(args + ["--", "touch", f"{d}/started"], timeout=20)
        assert code == 1, (args, code, err)
        assert "Not a valid option for -" + args[0][1] in err, (args, err)
        assert not os.path.exists(f"{d}/started"), args


def fake_image(d):
    """An unpacked image root: a user and groups the host does not have, an env file, a default config."""
    import grp
    import pwd
    assert "oxt-imgonly" not in [p.pw_name for p in pwd.getpwall()], "the host has the image's user"
    assert "oxt-imgteam" not in [g.gr_name for g in grp.getgrall()], "the host has the image's group"
    root = os.path.join(d, "rootfs")
    os.makedirs(f"{root}/etc/oxinit.d")
    with open(f"{root}/etc/passwd", "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\noxt-imgonly:x:4321:4322::/srv:/bin/sh\n")
    with open(f"{root}/etc/group", "w") as f:
        f.write("root:x:0:\noxt-imgonly:x:4322:\noxt-imgteam:x:4400:oxt-imgonly\n")
    with open(f"{root}/etc/app.env", "w") as f:
        f.write("MODE=prod\n")
    return root


@test
def check_root_resolves_users_groups_and_env_files_in_an_image():
    d = tmpdir()
    root = fake_image(d)
    cfg = write_config(d, """
[service.app]
command = ["/srv/app"]
user = "oxt-imgonly"
group = "oxt-imgteam"
env_file = "/etc/app.env"

[service.web]
command = ["/srv/web"]
after = ["app"]
user = "oxt-imgonly"
""")
    code, out, err = run(["--check", "--root", root, "-c", cfg], pidns=False)
    assert code == 0, err
    assert [l.split()[0] for l in out.splitlines()] == ["app", "web"], out
    assert err == "", err  # /etc/app.env is there, under the root
    # Without --root the same file is checked against the host, which lacks the user.
    code, out, err = run(["--check", "-c", cfg], pidns=False)
    assert code == 1, (code, out, err)
    assert re.search(re.escape(cfg) + r':4:8: user: unknown user "oxt-imgonly" \(/etc/passwd\)', err), err
    # A group only the image has, with a numeric user.
    cfg2 = write_config(d, '[service.g]\ncommand = "x"\nuser = 1\ngroup = "oxt-imgteam"\n', "g.toml")
    code, out, err = run(["--check", "--root", root, "-c", cfg2], pidns=False)
    assert code == 0, err
    code, out, err = run(["--check", "-c", cfg2], pidns=False)
    assert code == 1 and 'unknown group "oxt-imgteam"' in err, err


@test
def check_root_warns_about_env_files_missing_from_the_image():
    d = tmpdir()
    root = fake_image(d)
    cfg = write_config(d, '[service.s]\ncommand = "x"\nenv_file = "/run/secrets/s.env"\n')
    code, out, err = run(["--check", "--root", root, "-c", cfg], pidns=False)
    assert code == 0, err  # a secret may be mounted only at run time: a warning
    assert re.search(r"^\[WARN +oxinit.*\] " + re.escape(cfg) +
                     r":1: service 's': env_file /run/secrets/s\.env: No such file or directory under " +
                     re.escape(root) + "$", err, re.M), err


@test
def check_root_reads_the_images_default_config():
    d = tmpdir()
    root = fake_image(d)
    with open(f"{root}/etc/oxinit.toml", "w") as f:
        f.write('[service.a]\ncommand = "x"\nuser = "oxt-imgonly"\n')
    with open(f"{root}/etc/oxinit.d/10-b.toml", "w") as f:
        f.write('[service.b]\ncommand = "x"\nafter = "a"\n')
    code, out, err = run(["--check", "--root", root], pidns=False)
    assert code == 0, err
    assert out.splitlines() == ["a", "b after a"], out
    # --root is for checks: a run refuses it (and starts nothing).
    code, out, err = run(["--root", root, "--", "touch", f"{d}/started"], timeout=20)
    assert code == 1 and "--root DIR works with --check only" in err, err
    assert not os.path.exists(f"{d}/started")


@test
def misspelt_after_gets_a_suggestion():
    d = tmpdir()
    cfg = write_config(d, f"""
[service.cache]
command = "touch {d}/started; exec sleep 100"

[service.web]
command = "touch {d}/started; exec sleep 100"
after = ["cahce"]
""")
    code, out, err = run(["-c", cfg], timeout=20)
    assert code == 1, (code, err)
    assert re.search(re.escape(cfg) + r":7:10: service 'web': after names an unknown service \"cahce\"; "
                     r"did you mean 'cache'\?$", err, re.M), err
    assert not os.path.exists(f"{d}/started")
