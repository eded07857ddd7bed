"""Shared test fixtures: the real speech corpus and the real models that exist offline."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _speech_dir() -> Path:
    return Path(os.environ.get("VOICED_SPEECH_DIR", REPO.parent / "shared" / "speech"))


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """../shared/speech: real human speech with transcripts (see its README)."""
    path = _speech_dir()
    if not (path / "manifest.tsv").exists():
        pytest.fail(f"speech corpus not found at {path}; set VOICED_SPEECH_DIR")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
