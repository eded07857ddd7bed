"""Where voiced finds the files it ships and keeps the files it downloads or generates.

Read once at the command-line boundary and passed down; stages never look at the environment.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Optional

def _shipped_config_dir() -> Path:
    """config/ beside the package in a checkout, else beside the venv that deploy/install.sh made
    (/opt/voiced/config next to /opt/voiced/venv), where a wheel install finds no checkout."""
    checkout = Path(__file__).resolve().parent.parent / "config"
    installed = Path(sys.prefix).parent / "config"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


CONFIG_DIR = _shipped_config_dir()
"""the shipped command set, example config, demo recording and eval labels"""
DEFAULT_CONFIG = Path("/etc/voiced/voiced.yaml")
"""the config file deploy/install.sh writes and the service runs with"""
SHIPPED_GRAMMAR = CONFIG_DIR / "commands.yaml"
DEMO_RECORDING = CONFIG_DIR / "demo" / "commands.wav"


def cache_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """Model cache: $VOICED_CACHE_DIR, else systemd's $CACHE_DIRECTORY, else $XDG_CACHE_HOME/voiced."""
    env = os.environ if env is None else env
    if env.get("VOICED_CACHE_DIR"):
        return Path(env["VOICED_CACHE_DIR"])
    if env.get("CACHE_DIRECTORY"):  # set by systemd's CacheDirectory=
        return Path(env["CACHE_DIRECTORY"].split(":")[0])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "voiced"


def models_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    return cache_dir(env) / "models"


def default_config(env: Optional[Mapping[str, str]] = None) -> Optional[Path]:
    """The config a command uses when none is given: $VOICED_CONFIG, else /etc/voiced/voiced.yaml
    when it exists (an installed service), else None (built-in defaults)."""
    env = os.environ if env is None else env
    if env.get("VOICED_CONFIG"):
        return Path(env["VOICED_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
