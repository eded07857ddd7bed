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
