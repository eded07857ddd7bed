"""Home Assistant MQTT discovery: voiced as one device per site, its entities, and what they show.

Each entity's config is published retained on `<discovery_prefix>/<platform>/voiced_<site>/<key>/config`.
All of them carry the same `device` block (identified by `voiced_<site>`), so Home Assistant
shows one device per satellite, and all follow the status topic for availability:

    event          intent        recognised commands (event_types: the grammar's intents) and
                                 `not_recognized` (with the text that was heard)
    switch         listening     the `listen` / `listen/set` topics
    binary_sensor  speech        the `speech` topic: `start` / `stop`
    sensor         transcript    the last utterance's text          (from the retained `state` topic)
    sensor         model         the speech model (diagnostic)      (from `state`)
    sensor         latency       the last result's latency, ms (diagnostic, from `state`)

Home Assistant 2025.10 deprecated `object_id` (and ignores it from 2026.4) for
`default_entity_id`, which names the platform too (`event.voiced_kitchen_intent`). Both are
sent: older versions drop keys their platform schema does not know (the discovery schemas
remove extra keys), newer ones use `default_entity_id`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

from voiced import __version__

if TYPE_CHECKING:
    from voiced.grammar.matcher import MatchResult
    from voiced.mqtt.payloads import Topics, Utterance

NOT_RECOGNIZED = "not_recognized"  # the event type of speech that matched no command
STATE_TEXT_MAX = 255  # Home Assistant refuses a sensor state longer than this


def object_id(text: str) -> str:
    """`text` as the part of an entity id Home Assistant accepts: lower case letters, digits, `_`."""
    return "".join(c if c.isalnum() else "_" for c in text.lower())


def config_topic(topics: Topics, platform: str, key: str) -> str:
    return f"{topics.discovery_prefix}/{platform}/voiced_{object_id(topics.site)}/{key}/config"


def device(topics: Topics) -> Dict[str, Any]:
    """The one device every entity of this site belongs to."""
    return {"identifiers": [f"voiced_{object_id(topics.site)}"], "name": f"voiced {topics.site}",
            "manufacturer": "voiced", "model": "voice command satellite", "sw_version": __version__}


def _entity(topics: Topics, platform: str, key: str, name: str, **config: Any) -> Tuple[str, Dict[str, Any]]:
    oid = f"voiced_{object_id(topics.site)}_{key}"
    return config_topic(topics, platform, key), {
        "name": name,
        "unique_id": oid,
        "default_entity_id": f"{platform}.{oid}",
        "object_id": oid,  # Home Assistant before 2025.10
        **config,
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "device": device(topics),
    }


def entities(topics: Topics, intent_names: Iterable[str]) -> List[Tuple[str, Dict[str, Any]]]:
    """(config topic, config) of every entity of this site, for a grammar with these intents."""
    diagnostic = {"entity_category": "diagnostic"}
    return [
        _entity(topics, "event", "intent", "Voice command", state_topic=topics.event,
                event_types=sorted(set(intent_names) | {NOT_RECOGNIZED})),
        _entity(topics, "switch", "listening", "Listening", command_topic=topics.listen_set,
                state_topic=topics.listen, payload_on="on", payload_off="off", icon="mdi:microphone"),
        _entity(topics, "binary_sensor", "speech", "Hearing speech", state_topic=topics.speech,
                payload_on="start", payload_off="stop", device_class="sound"),
        _entity(topics, "sensor", "transcript", "Last transcript", state_topic=topics.state,
                value_template="{{ value_json.transcript }}", icon="mdi:comment-text-outline",
                json_attributes_topic=topics.state),
        _entity(topics, "sensor", "model", "Model", state_topic=topics.state,
                value_template="{{ value_json.model }}", icon="mdi:waveform", **diagnostic),
        _entity(topics, "sensor", "latency", "Last latency", state_topic=topics.state,
                value_template="{{ value_json.latency_ms }}", unit_of_measurement="ms",
                device_class="duration", state_class="measurement", **diagnostic),
    ]


# --- what the entities show --------------------------------------------------------------

def event_payload(utt: Utterance, result: MatchResult, site_id: str) -> Dict[str, Any]:
    """The event entity: `event_type` (the intent, or `not_recognized`) plus attributes."""
    if not result.recognized or result.intent is None:
        return {"event_type": NOT_RECOGNIZED, "text": utt.text, "site_id": site_id}
    return {"event_type": result.intent, "confidence": round(float(result.confidence), 3),
            "slots": {name: slot.value for name, slot in (result.slots or {}).items()},
            "text": utt.text, "site_id": site_id}


def state_payload(model: Optional[str], utt: Optional[Utterance] = None,
                  result: Optional[MatchResult] = None) -> Dict[str, Any]:
    """The retained `state` topic the sensors read: the model, and the last utterance if any.
    A value that is not known yet is null, which Home Assistant shows as unknown."""
    recognized = result is not None and result.recognized and result.intent is not None
    return {
        "model": model,
        "transcript": utt.text[:STATE_TEXT_MAX] if utt is not None else None,
        "result": None if result is None else ("recognized" if recognized else NOT_RECOGNIZED),
        "intent": result.intent if result is not None and recognized else None,
        "latency_ms": round(utt.latency_ms["total"], 1) if utt is not None and "total" in utt.latency_ms else None,
    }
