"""The command line as users type it: verbosity anywhere, journald priorities under systemd."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.cli import build_parser

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, env_extra: dict = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "voiced", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


@pytest.mark.parametrize("argv", [["-vv", "bench", "match", "--sentences", "3"],
                                  ["bench", "match", "--sentences", "3", "-vv"],
                                  ["-v", "bench", "match", "--sentences", "3", "-v"]])
def test_verbosity_counts_before_and_after_the_command(argv):
    out = run(*argv)
    assert out.returncode == 0, out.stderr
    assert "DEBUG voiced.grammar.matcher: compiled" in out.stderr


def test_no_verbosity_logs_no_debug():
    out = run("bench", "match", "--sentences", "3")
    assert out.returncode == 0 and "DEBUG" not in out.stderr


def test_under_systemd_lines_carry_a_syslog_priority():
    out = run("bench", "match", "--sentences", "3", "-vv", env_extra={"JOURNAL_STREAM": "8:12345"})
    assert out.returncode == 0, out.stderr
    assert "<7>voiced.grammar.matcher: compiled" in out.stderr and "DEBUG" not in out.stderr


def test_every_command_accepts_verbose_after_it():
    parser = build_parser()
    for argv in (["check-config", "-v"], ["match", "hi", "-vv"], ["bench", "match", "-v"]):
        args = parser.parse_args(argv)
        assert args.verbose + args.verbose_after == argv[-1].count("v")
