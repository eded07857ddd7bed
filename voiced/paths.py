"""Where voiced finds the files it ships and keeps the files it downloads or generates.

Read once at the command-line boundary and passed down; stages never look at the environment.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
"""config/ beside the package in a checkout: the shipped command set, demo recording and eval labels"""
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
