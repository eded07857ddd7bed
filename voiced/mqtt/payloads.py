"""Topic names and JSON payloads: voiced's own (Hermes: voiced.mqtt.hermes; Home Assistant discovery:
voiced.mqtt.discovery).

Pure functions of an utterance and its match, so each format is easy to test and to read.
The result is the interpreter's MatchResult (intent, confidence, slots of
SlotMatch(value, raw, confidence), text, alternatives, decided_by), whichever stage decided it.

Every JSON text voiced publishes goes through `to_json`, so a consumer's strict parser never
sees NaN or Infinity (Python's json writes them by default) and a lone surrogate from a
transcript or a list value never makes a payload unencodable.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from voiced.grammar.matcher import MatchResult


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech as heard: where it was in the stream and how long each step took."""

    id: str
    text: str
    start_s: float  # seconds since the audio stream started
    end_s: float
    started_at: float = field(default_factory=time.time)  # wall clock (Unix seconds) at speech start
    latency_ms: Dict[str, float] = field(default_factory=dict)  # e.g. asr, match, total (end of speech → result)


@dataclass(frozen=True)
class Topics:
    """Every topic voiced uses for one site."""

    prefix: str
    site: str
    discovery_prefix: str = "homeassistant"

    def _t(self, *parts: str) -> str:
        return "/".join((self.prefix, self.site) + parts)

    def intent(self, name: str) -> str:
        return self._t("intent", name)

    @property
    def not_recognized(self) -> str:
        return self._t("not_recognized")

    @property
    def transcript(self) -> str:
        return self._t("transcript")

    @property
    def status(self) -> str:
        return self._t("status")

    @property
    def listen(self) -> str:
        return self._t("listen")

    @property
    def listen_set(self) -> str:
        return self._t("listen", "set")

    @property
    def event(self) -> str:
        """Home Assistant event entity state topic."""
        return self._t("event")

    @property
    def speech(self) -> str:
        """Retained `start` / `stop`: an utterance is being heard."""
        return self._t("speech")

    @property
    def result(self) -> str:
        """Each utterance's outcome as soon as it is known, for lights and sounds."""
        return self._t("result")

    @property
    def state(self) -> str:
        """Retained state of the Home Assistant sensors (voiced.mqtt.discovery)."""
        return self._t("state")

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"


COMPACT = (",", ":")


def to_json(data: Any, separators: Optional[Tuple[str, str]] = COMPACT) -> str:
    """JSON text that strict parsers accept: NaN and +-Infinity become null, lone surrogates U+FFFD."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=separators)
        text.encode("utf-8")
        return text
    except ValueError:  # UnicodeEncodeError is a ValueError too
        return json.dumps(_clean(data), ensure_ascii=False, allow_nan=False, separators=separators)


def dumps(data: Dict[str, Any]) -> str:
    return to_json(data)


def clean_text(text: str) -> str:
    """`text` as valid Unicode: surrogate pairs joined, lone surrogates replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean_text(k) if isinstance(k, str) else k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _slots(result: MatchResult) -> Dict[str, Dict[str, Any]]:
    return {name: {"value": slot.value, "raw": slot.raw, "confidence": round(float(slot.confidence), 3)}
            for name, slot in (result.slots or {}).items()}


def _common(utt: Utterance, site_id: str) -> Dict[str, Any]:
    return {
        "text": utt.text,
        "site_id": site_id,
        "utterance_id": utt.id,
        "start_s": round(utt.start_s, 3),
        "end_s": round(utt.end_s, 3),
        "started_at": round(utt.started_at, 3),
        "latency_ms": {k: round(v, 1) for k, v in utt.latency_ms.items()},
    }


def intent_payload(utt: Utterance, result: MatchResult, site_id: str) -> Dict[str, Any]:
    # decided_by: "fuzzy" (the text matcher) or "rescoring" (the acoustic second stage)
    return {"intent": result.intent, "confidence": round(float(result.confidence), 3),
            "slots": _slots(result), "decided_by": result.decided_by, "addressed": result.addressed,
            **_common(utt, site_id)}


def guesses(result: MatchResult, limit: int = 3) -> List[Dict[str, Any]]:
    """The matcher's best candidates as dicts: intent, confidence, slots."""
    return list(result.to_dict().get("alternatives") or [])[:limit]


def not_recognized_payload(utt: Utterance, result: MatchResult, site_id: str) -> Dict[str, Any]:
    return {"guesses": guesses(result), "decided_by": result.decided_by,
            **_common(utt, site_id)}


def transcript_payload(utt: Utterance, site_id: str) -> Dict[str, Any]:
    return _common(utt, site_id)


def result_payload(utt: Utterance, result: MatchResult, site_id: str) -> Dict[str, Any]:
    """The `result` topic: `recognized` with the intent, or `not_recognized`; what was heard."""
    recognized = result.recognized and result.intent is not None
    return {"result": "recognized" if recognized else "not_recognized",
            "intent": result.intent if recognized else None, "text": utt.text,
            "site_id": site_id, "utterance_id": utt.id}


def parse_switch(payload: bytes) -> Optional[bool]:
    """`on`/`off` (also true/false, 1/0, yes/no) as a bool; None when it is neither."""
    word = payload.decode("utf-8", "replace").strip().lower()
    if word in ("on", "true", "1", "yes"):
        return True
    if word in ("off", "false", "0", "no"):
        return False
    return None
