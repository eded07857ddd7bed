"""Hermes (Rhasspy) compatibility, with `mqtt.hermes: true`: the messages Rhasspy flows expect, and
the ones they send to voiced.

    out, per utterance        hermes/asr/textCaptured, then hermes/intent/<IntentName> or
                              hermes/nlu/intentNotRecognized (Publisher.publish)
    in: hermes/nlu/query      text → the grammar matcher (no audio, so no rescoring) → replies
                              hermes/nlu/intentParsed + hermes/intent/<IntentName>, or
                              hermes/nlu/intentNotRecognized, with the query's id and sessionId
    in: hermes/{asr,hotword,audioServer}/toggleOff, toggleOn
                              mute and unmute voiced, as `listen/set` does (see Mutes)

Field names and types follow rhasspy-hermes 0.6 (rhasspyhermes.asr, .nlu, .intent); the tests
parse every message voiced publishes with its classes. Messages that name another siteId are
for another satellite and ignored; one without a siteId is for everyone.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from voiced.mqtt.payloads import dumps

if TYPE_CHECKING:
    from voiced.grammar.matcher import MatchResult, SlotMatch
    from voiced.mqtt.link import Message, MessageHandler
    from voiced.mqtt.payloads import Utterance
    from voiced.stages import TextMatcher

log = logging.getLogger(__name__)

TEXT_CAPTURED = "hermes/asr/textCaptured"
NOT_RECOGNIZED = "hermes/nlu/intentNotRecognized"
INTENT_PARSED = "hermes/nlu/intentParsed"
QUERY = "hermes/nlu/query"
# topic -> (component, on): each component keeps its own reasons, as each Rhasspy service does
TOGGLES: Dict[str, Tuple[str, bool]] = {
    f"hermes/{component}/toggle{state}": (component, state == "On")
    for component in ("asr", "hotword", "audioServer") for state in ("On", "Off")
}


def intent_topic(name: str) -> str:
    return f"hermes/intent/{name}"


# --- payloads -------------------------------------------------------------------------------

def slots(result: MatchResult, text: str) -> List[Dict[str, Any]]:
    """The result's slots as Hermes slots. `range` is where the slot's words are in `text` (the
    message's `input`, which is also its `rawInput`, so rawStart/rawEnd are the same characters);
    null for a slot that has no words there (a template's fixed value)."""
    return [_slot(name, slot, text if result.text == text else None) for name, slot in (result.slots or {}).items()]


def _slot(name: str, slot: SlotMatch, text: Optional[str]) -> Dict[str, Any]:
    value = slot.value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    span = slot.span if text is not None else None
    where: Optional[Dict[str, int]] = None
    raw = slot.raw or str(value)
    if span is not None and text is not None:
        start, end = span
        raw = text[start:end]  # as said: "five", not the "5" it was read as
        where = {"start": start, "end": end, "rawStart": start, "rawEnd": end}
    return {"entity": name, "slotName": name, "rawValue": raw,
            "value": {"kind": "Number" if number else "Unknown", "value": value},
            "confidence": round(float(slot.confidence), 3), "range": where}


def _intent(result: MatchResult) -> Dict[str, Any]:
    return {"intentName": result.intent, "confidenceScore": round(float(result.confidence), 3)}


def intent_message(text: str, result: MatchResult, site_id: str, session_id: Optional[str],
                   request_id: Optional[str], extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """hermes/intent/<IntentName>: `extra` carries a query's customData, wakewordId, lang."""
    return {"input": text, "rawInput": text, "intent": _intent(result), "slots": slots(result, text),
            "siteId": site_id, "sessionId": session_id, "id": request_id,
            "customData": None, "asrTokens": None, "asrConfidence": None, "wakewordId": None, "lang": None,
            **(extra or {})}


def intent_parsed(text: str, result: MatchResult, site_id: str, session_id: Optional[str],
                  request_id: Optional[str]) -> Dict[str, Any]:
    return {"input": text, "intent": _intent(result), "slots": slots(result, text), "siteId": site_id,
            "sessionId": session_id, "id": request_id}


def not_recognized(text: str, site_id: str, session_id: Optional[str], request_id: Optional[str],
                   custom_data: Optional[str] = None) -> Dict[str, Any]:
    return {"input": text, "siteId": site_id, "sessionId": session_id, "id": request_id, "customData": custom_data}


def text_captured(utt: Utterance, result: MatchResult, site_id: str) -> Dict[str, Any]:
    """`seconds` is how long transcribing took (Rhasspy: "the duration it took to do the
    processing"), `likelihood` the result's confidence."""
    return {"text": utt.text, "likelihood": round(float(result.confidence), 3),
            "seconds": round(utt.latency_ms.get("asr", 0.0) / 1000.0, 3),
            "siteId": site_id, "sessionId": utt.id, "wakewordId": None, "asrTokens": None, "lang": None}


def heard_intent(utt: Utterance, result: MatchResult, site_id: str) -> Dict[str, Any]:
    """hermes/intent/<IntentName> for an utterance heard: its id is the session and request id."""
    return intent_message(utt.text, result, site_id, utt.id, utt.id)


def heard_not_recognized(utt: Utterance, site_id: str) -> Dict[str, Any]:
    return not_recognized(utt.text, site_id, utt.id, utt.id)


# --- what Rhasspy sends ---------------------------------------------------------------------

class Mutes:
    """Why voiced is not listening: a set of (component, reason). Listening while it is empty.

    Rhasspy's semantics (rhasspyhermes.asr.AsrToggleReason): toggleOff with a reason
    ("ttsSay", "dialogueSession", "playAudio", or none) adds it for that component; toggleOn
    with a reason takes that one away, and toggleOn without one takes all of the component's
    away. So asr toggleOff plus hotword toggleOff need both toggleOns, and a TTS toggleOff
    during a dialogue session's keeps voiced muted until the session's own toggleOn.
    `clear` (listen/set on) takes every reason away. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: Set[Tuple[str, str]] = set()

    def switch(self, component: str, on: bool, reason: str = "") -> Tuple[bool, bool]:
        """Apply one toggle; (listening before, listening after)."""
        with self._lock:
            before = not self._reasons
            if not on:
                self._reasons.add((component, reason))
            elif reason:
                self._reasons.discard((component, reason))
            else:
                self._reasons = {r for r in self._reasons if r[0] != component}
            return before, not self._reasons

    def clear(self) -> Tuple[bool, bool]:
        with self._lock:
            before = not self._reasons
            self._reasons = set()
            return before, True

    @property
    def listening(self) -> bool:
        with self._lock:
            return not self._reasons

    def reasons(self) -> List[str]:
        """The reasons in force, as `component` or `component:reason`, for the log."""
        with self._lock:
            return sorted(f"{c}:{r}" if r else c for c, r in self._reasons)


Switch = Callable[[str, bool, str], None]  # (component, on, reason)
Publish = Callable[[Sequence["Message"]], int]
Subscribe = Callable[[str, "MessageHandler"], None]


class HermesInbox:
    """Handles what Rhasspy sends (network thread): toggles call `switch`, queries are matched by
    the matcher `matcher()` returns at that moment (a grammar reload swaps it) and answered
    through `publish` (the outbox: QoS 1, never lost)."""

    def __init__(self, site_id: str, switch: Switch, matcher: Callable[[], Optional[TextMatcher]],
                 publish: Publish):
        self._site = site_id
        self._switch = switch
        self._matcher = matcher
        self._publish = publish

    def subscribe(self, subscribe: Subscribe) -> None:
        for topic in TOGGLES:
            subscribe(topic, self.handle_toggle)
        subscribe(QUERY, self.handle_query)

    def _ours(self, topic: str, payload: bytes) -> Optional[Dict[str, Any]]:
        """The JSON object of a message for this site; None (logged) for another site or bad JSON."""
        try:
            data = json.loads(payload.decode("utf-8")) if payload.strip() else {}
        except (UnicodeDecodeError, ValueError):
            log.warning("ignoring %s: not JSON (%r)", topic, payload[:60])
            return None
        if not isinstance(data, dict):
            log.warning("ignoring %s: not a JSON object (%r)", topic, payload[:60])
            return None
        site = data.get("siteId")
        if site is not None and site != self._site:
            log.debug("ignoring %s for site %r", topic, site)
            return None
        return data

    def handle_toggle(self, topic: str, payload: bytes) -> None:
        data = self._ours(topic, payload)
        if data is None:
            return
        component, on = TOGGLES[topic]
        reason = data.get("reason") or ""
        self._switch(component, on, str(reason))

    def handle_query(self, topic: str, payload: bytes) -> None:
        query = self._ours(topic, payload)
        if query is None:
            return
        text = query.get("input")
        if not isinstance(text, str):
            log.warning("ignoring %s without an input text", topic)
            return
        site = str(query.get("siteId") or self._site)
        session, request = _text_or_none(query.get("sessionId")), _text_or_none(query.get("id"))
        custom = _text_or_none(query.get("customData"))
        wanted = query.get("intentFilter")
        intents = [str(i) for i in wanted] if isinstance(wanted, list) and wanted else None
        matcher = self._matcher()
        result = matcher.match(text, intents) if matcher is not None else None
        messages: List[Tuple[str, Dict[str, Any]]]
        if result is not None and result.recognized and result.intent is not None:
            extra = {"customData": custom, "wakewordId": _text_or_none(query.get("wakewordId")),
                     "lang": _text_or_none(query.get("lang"))}
            messages = [(INTENT_PARSED, intent_parsed(text, result, site, session, request)),
                        (intent_topic(result.intent), intent_message(text, result, site, session, request, extra))]
            log.info("query %r → %s %s (%.2f)", text, result.intent,
                     {k: s.value for k, s in result.slots.items()}, result.confidence)
        else:
            messages = [(NOT_RECOGNIZED, not_recognized(text, site, session, request, custom))]
            log.info("query %r → not recognized (%s)", text,
                     result.reason if result is not None else "the grammar is not loaded yet")
        self._publish([(t, dumps(data), False) for t, data in messages])


def _text_or_none(value: Any) -> Optional[str]:
    return None if value is None else str(value)
