"""Rhasspy's own message classes (rhasspy-hermes), to read what voiced publishes and to write what
Rhasspy sends it.

rhasspy-hermes pins paho-mqtt 1.5 while voiced needs paho 2, so it lives in a venv of its own,
`.venv-hermes` beside the checkout (deploy/setup-dev.sh makes it; the first test that needs it
makes it otherwise), and is used through a subprocess that speaks JSON on stdin and stdout.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-hermes"
PACKAGE = "rhasspy-hermes==0.6.2"
UNAVAILABLE = ("No matching distribution found", "Could not find a version that satisfies")

# Reads [[op, "module.Class", argument], ...]; op "parse" loads a payload with the class's
# marshmallow schema, which refuses unknown fields and values of the wrong type, and gives the
# message back as rhasspy-hermes sees it; op "make" builds a message from keyword arguments and
# gives its topic and payload.
_SCRIPT = r"""
import importlib, json, sys
from marshmallow import ValidationError

def load(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)

out = []
for op, path, arg in json.load(sys.stdin):
    cls = load(path)
    if op == "make":
        message = cls(**arg)
        out.append({"topic": message.topic(**arg), "payload": message.payload()})
        continue
    try:
        message = cls.schema().loads(arg)
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        out.append({"error": f"{type(exc).__name__}: {getattr(exc, 'messages', exc)}"})
        continue
    item = {"message": message.to_dict(), "repr": repr(message)}
    if hasattr(message, "to_rhasspy_dict"):
        item["rhasspy"] = message.to_rhasspy_dict()
    out.append(item)
print(json.dumps(out))
"""


def ensure_venv() -> Tuple[Optional[Path], str]:
    """The venv's python, or None and why rhasspy-hermes cannot be had here."""
    python = VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import rhasspyhermes"],
                                          capture_output=True).returncode == 0:
        return python, ""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True)
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", PACKAGE],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        if any(s in pip.stdout + pip.stderr for s in UNAVAILABLE):
            return None, f"{PACKAGE} is not available from the package index: {pip.stderr.strip()[-300:]}"
        raise RuntimeError(f"pip could not install {PACKAGE} into {VENV}:\n{pip.stdout}\n{pip.stderr}")
    return python, ""


class Rhasspy:
    """rhasspy-hermes's classes, run in their own venv."""

    def __init__(self, python: Path):
        self.python = python

    def _run(self, calls: Sequence[Tuple[str, str, Any]]) -> List[Dict[str, Any]]:
        done = subprocess.run([str(self.python), "-c", _SCRIPT], input=json.dumps(list(calls)),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def parse_all(self, items: Sequence[Tuple[str, str]]) -> List[Dict[str, Any]]:
        """[(class, payload)] -> each as rhasspy-hermes reads it ({"error": ...} when it refuses it)."""
        return self._run([("parse", f"rhasspyhermes.{cls}", payload) for cls, payload in items])

    def parse(self, cls: str, payload: str) -> Dict[str, Any]:
        (item,) = self.parse_all([(cls, payload)])
        assert "error" not in item, f"rhasspy-hermes refuses {cls} {payload}: {item['error']}"
        return item

    def make(self, cls: str, **kwargs: Any) -> Tuple[str, str]:
        """(topic, payload) of a message as Rhasspy writes it."""
        (item,) = self._run([("make", f"rhasspyhermes.{cls}", kwargs)])
        return item["topic"], item["payload"]
