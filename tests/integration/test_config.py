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
