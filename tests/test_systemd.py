"""The systemd unit is a tested artefact: it verifies, and its hardening score does not regress."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.errors import EXIT_CONFIG

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "voiced.service"
# The exposure `systemd-analyze security --offline=yes` reported for the unit (lower is safer).
EXPOSURE_LIMIT = 1.5

# Measured with rescoring on (the unit's comment says how): the daemon's peak RSS in MiB with
# base-en, the larger of the two models, and its most threads with 4 recogniser threads.
PEAK_RSS_MIB = 955
PEAK_THREADS = 19

needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def unit_settings() -> dict:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string(UNIT.read_text())
    return {section: dict(parser[section]) for section in parser.sections()}


def runnable_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointed at a binary that exists here, so verify can check it."""
    text = UNIT.read_text() if text is None else text
    exe = Path(sys.executable).parent / "voiced"
    target = str(exe) if exe.exists() else "/bin/true"
    copy = tmp_path / "voiced.service"
    copy.write_text(text.replace("/opt/voiced/venv/bin/voiced", target))
    return copy


def test_unit_declares_the_service_contract():
    unit = unit_settings()
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIG)
    assert int(service["WatchdogSec"]) > 0
    assert service["User"] == "voiced" and "audio" in service["SupplementaryGroups"].split()
    for key in ("ConfigurationDirectory", "StateDirectory", "CacheDirectory"):
        assert service[key] == "voiced"
    assert service["DevicePolicy"] == "closed" and service["DeviceAllow"] == "char-alsa rw"
    assert "PrivateDevices" not in service
    assert "StartLimitBurst" in unit["Unit"] and "StartLimitIntervalSec" in unit["Unit"]
    assert "kill -HUP" in service["ExecReload"]


def mebibytes(size: str) -> float:
    """A systemd memory size ("1440M", "2G", "1073741824") in MiB."""
    scale = {"K": 1 / 1024, "M": 1, "G": 1024}
    return float(size[:-1]) * scale[size[-1]] if size[-1] in scale else float(size) / 2 ** 20


def test_memory_and_tasks_are_limited_with_headroom_over_the_measured_peak():
    service = unit_settings()["Service"]
    high, top = mebibytes(service["MemoryHigh"]), mebibytes(service["MemoryMax"])
    # room to run (throttling starts at MemoryHigh) and a hard stop below what a board can lose
    assert 1.4 * PEAK_RSS_MIB <= high < top <= 2.2 * PEAK_RSS_MIB
    assert top >= 1.9 * PEAK_RSS_MIB
    assert 3 * PEAK_THREADS <= int(service["TasksMax"]) <= 8 * PEAK_THREADS
    comment = UNIT.read_text()
    assert f"{PEAK_RSS_MIB} MiB" in comment and f"{PEAK_THREADS} with 4" in comment


@needs_systemd
def test_systemd_analyze_verify_passes(tmp_path):
    result = subprocess.run(["systemd-analyze", "verify", str(runnable_copy(tmp_path))],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "voiced.service" not in result.stderr, result.stderr


@needs_systemd
def test_verify_catches_a_broken_unit(tmp_path):
    broken = runnable_copy(tmp_path, UNIT.read_text().replace("Type=notify", "Type=notfy"))
    result = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, cwd=tmp_path)
    assert "notfy" in result.stderr


@needs_systemd
def test_security_exposure_does_not_regress(tmp_path):
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(runnable_copy(tmp_path))],
                            capture_output=True, text=True, cwd=tmp_path)
    found = re.search(r"Overall exposure level for voiced\.service: ([0-9.]+)", result.stdout)
    assert found, result.stdout[-2000:] + result.stderr
    exposure = float(found.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= EXPOSURE_LIMIT
