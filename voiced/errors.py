"""The project's exception hierarchy.

Third-party errors (onnxruntime, PyAudio, paho, YAML) are translated into these at the
module boundary, so the daemon and the CLI decide what to do from our own types.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

# Exit codes. EX_CONFIG (78, from sysexits.h) is listed in the unit's
# RestartPreventExitStatus, so systemd does not restart-loop on a broken config.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78


class VoicedError(Exception):
    """Base class of every error voiced raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where it is, what is wrong and how to fix it."""

    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    key: Optional[str] = None
    hint: Optional[str] = None

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class ProblemsError(VoicedError):
    """Raised once with every problem found, so users fix them all in one pass."""

    kind = "input"

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(self.summary())

    def summary(self) -> str:
        n = len(self.problems)
        head = f"{n} {self.kind} error{'s' if n != 1 else ''}:"
        return "\n".join([head] + [f"  {p}" for p in self.problems])


class ConfigError(ProblemsError):
    kind = "config"


class GrammarError(ProblemsError):
    kind = "grammar"


class ModelError(VoicedError):
    """A model directory is missing, incomplete or not a layout we know."""


class AudioError(VoicedError):
    """Audio could not be read, opened or decoded."""


class BrokerError(VoicedError):
    """The MQTT broker refused us (bad credentials, TLS) in a way retrying will not fix."""
