"""Home Assistant discovery (voiced.mqtt.discovery): every entity's config against the rules
Home Assistant's MQTT platforms apply, then the entities' topics on a real mosquitto."""
from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from typing import Any, Dict, List, Tuple

import pytest
from mqtt_support import Subscriber, wait_until

from voiced.config import MqttConfig
from voiced.mqtt import discovery
from voiced.mqtt.link import MqttLink
from voiced.mqtt.payloads import Topics, Utterance, parse_switch
from voiced.mqtt.topics import topic_problem

pytestmark = pytest.mark.timeout(120)

# What Home Assistant's MQTT discovery schemas accept (homeassistant/components/mqtt: schemas.py
# for every entity, then each platform's file). Keys outside these are dropped without a word,
# so a misspelt key would silently do nothing: here it fails.
COMMON = {"name", "unique_id", "object_id", "default_entity_id", "availability_topic", "payload_available",
          "payload_not_available", "availability", "availability_mode", "availability_template", "device",
          "origin", "enabled_by_default", "entity_category", "entity_picture", "icon", "json_attributes_topic",
          "json_attributes_template", "qos", "encoding"}
PLATFORMS: Dict[str, Dict[str, set]] = {
    "event": {"required": {"state_topic", "event_types"},
              "optional": {"device_class", "value_template"}},
    "switch": {"required": {"command_topic"},
               "optional": {"state_topic", "payload_on", "payload_off", "state_on", "state_off", "optimistic",
                            "retain", "value_template", "command_template", "device_class"}},
    "binary_sensor": {"required": {"state_topic"},
                      "optional": {"payload_on", "payload_off", "device_class", "value_template", "expire_after",
                                   "force_update", "off_delay"}},
    "sensor": {"required": {"state_topic"},
               "optional": {"device_class", "state_class", "unit_of_measurement", "value_template",
                            "expire_after", "force_update", "suggested_display_precision", "options"}},
}
DURATION_UNITS = {"d", "h", "min", "s", "ms", "µs"}
SLUG = re.compile(r"^[a-z0-9_]+$")  # an entity id's object part
CONFIG_TOPIC = re.compile(r"^homeassistant/(\w+)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/config$")
INTENTS = ["LightOn", "TimeGet"]


def announced(site: str = "kitchen") -> List[Tuple[str, Dict[str, Any]]]:
    return discovery.entities(Topics("voiced", site), INTENTS)


def by_key(site: str = "kitchen") -> Dict[str, Dict[str, Any]]:
    return {CONFIG_TOPIC.match(topic).group(3): config for topic, config in announced(site)}  # type: ignore


@pytest.mark.parametrize("site", ["kitchen", "Living Room-2"])
def test_every_config_is_one_home_assistant_accepts(site):
    topics = Topics("voiced", site)
    entities = announced(site)
    assert [CONFIG_TOPIC.match(t).group(1) for t, _ in entities] == \
        ["event", "switch", "binary_sensor", "sensor", "sensor", "sensor"]  # type: ignore
    for topic, config in entities:
        match = CONFIG_TOPIC.match(topic)
        assert match, topic
        platform, node, key = match.groups()
        rules = PLATFORMS[platform]
        assert rules["required"] <= set(config), (topic, rules["required"] - set(config))
        assert set(config) <= COMMON | rules["required"] | rules["optional"], \
            (topic, set(config) - COMMON - rules["required"] - rules["optional"])
        # The entity id: default_entity_id (2025.10 on) names this platform, object_id (before) the same slug.
        domain, _, slug = config["default_entity_id"].partition(".")
        assert domain == platform and SLUG.match(slug) and slug == config["object_id"] == config["unique_id"]
        assert node == f"voiced_{discovery.object_id(site)}" and slug == f"{node}_{key}"
        assert config["availability_topic"] == topics.status
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config.get("entity_category") in (None, "diagnostic")  # "config" is refused for read-only ones
        assert config["qos"] in (0, 1, 2)
        for name in ("state_topic", "command_topic", "json_attributes_topic", "availability_topic"):
            if name in config:
                assert topic_problem(config[name]) is None and config[name].startswith(f"voiced/{site}/")
        assert json.loads(json.dumps(config)) == config  # plain JSON all through


def test_one_device_with_unique_entities_per_site():
    kitchen, hall = announced("kitchen"), announced("hall")
    devices = [json.dumps(config["device"], sort_keys=True) for _, config in kitchen]
    assert len(set(devices)) == 1  # the same block in each, so Home Assistant shows one device
    device = kitchen[0][1]["device"]
    assert device["identifiers"] == ["voiced_kitchen"] and device["name"] == "voiced kitchen"
    assert hall[0][1]["device"]["identifiers"] == ["voiced_hall"]
    ids = [config["unique_id"] for _, config in kitchen + hall]
    assert len(ids) == len(set(ids)) == 12
    assert len({t for t, _ in kitchen + hall}) == 12


def test_the_event_entity_keeps_its_topic_and_id_and_adds_not_recognized():
    (topic, config), *_ = announced()
    assert topic == "homeassistant/event/voiced_kitchen/intent/config"  # existing installs keep their entity
    assert config["default_entity_id"] == "event.voiced_kitchen_intent"
    assert config["event_types"] == ["LightOn", "TimeGet", "not_recognized"]
    assert config["state_topic"] == "voiced/kitchen/event"


def test_each_entity_understands_what_voiced_publishes_on_its_topics():
    from voiced.grammar.loader import load_grammar_text
    from voiced.grammar.matcher import Matcher

    configs = by_key()
    switch = configs["listening"]
    assert (switch["command_topic"], switch["state_topic"]) == ("voiced/kitchen/listen/set", "voiced/kitchen/listen")
    # What Home Assistant sends is what voiced obeys, and what voiced reports is what it expects.
    assert parse_switch(switch["payload_on"].encode()) is True and parse_switch(switch["payload_off"].encode()) is False
    assert (switch["payload_on"], switch["payload_off"]) == ("on", "off")
    speech = configs["speech"]
    assert (speech["state_topic"], speech["payload_on"], speech["payload_off"]) == \
        ("voiced/kitchen/speech", "start", "stop")
    latency = configs["latency"]
    assert latency["device_class"] == "duration" and latency["unit_of_measurement"] in DURATION_UNITS
    assert configs["model"]["entity_category"] == latency["entity_category"] == "diagnostic"
    assert "entity_category" not in configs["transcript"]

    # The sensors' templates read keys the state payload has.
    grammar = load_grammar_text("intents:\n  TimeGet:\n    data:\n      - sentences: ['what time is it']\n")
    result = Matcher(grammar).match("what time is it")
    utt = Utterance(id="u1", text="what time is it " * 30, start_s=0, end_s=1, latency_ms={"total": 12.34})
    state = discovery.state_payload("moonshine-v2-small", utt, result)
    for key in ("transcript", "model", "latency"):
        (field,) = re.findall(r"value_json\.(\w+)", configs[key]["value_template"])
        assert field in state
    assert state["model"] == "moonshine-v2-small" and state["latency_ms"] == 12.3
    assert len(state["transcript"]) == discovery.STATE_TEXT_MAX  # Home Assistant's limit for a state
    assert (state["result"], state["intent"]) == ("recognized", "TimeGet")
    # Before any utterance the sensors are unknown: null, which the template renders as "None".
    assert discovery.state_payload(None) == {"model": None, "transcript": None, "result": None, "intent": None,
                                             "latency_ms": None}

    # Every event sent is of a type the event entity declared.
    event_types = configs["intent"]["event_types"]
    heard = discovery.event_payload(utt, result, "kitchen")
    unmatched = discovery.event_payload(utt, Matcher(grammar).match("open the pod bay doors"), "kitchen")
    assert heard["event_type"] == "TimeGet" and unmatched["event_type"] == "not_recognized"
    assert {heard["event_type"], unmatched["event_type"]} <= set(event_types)
    assert unmatched["text"] == utt.text


# --- on a real broker --------------------------------------------------------------------------

GRAMMAR = """
intents:
  LightOn:
    data:
      - sentences: ["turn on the light"]
  TimeGet:
    data:
      - sentences: ["what time is it"]
"""


@pytest.fixture
def ha_publisher(mosquitto):
    from voiced.grammar.loader import load_grammar_text
    from voiced.mqtt.publisher import Publisher

    grammar = load_grammar_text(GRAMMAR)
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port, ha_discovery=True)
    link = MqttLink(cfg, "voiced-ha", "voiced/test/status")
    calls: List[bool] = []
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test", on_listen=calls.append)
    publisher.announce(grammar)
    sub = Subscriber(mosquitto, ["#"])
    link.start()
    assert link.wait_connected(10)
    yield publisher, grammar, sub, calls
    sub.close()
    link.close()


def test_every_entity_is_announced_retained_with_its_state_on_connect(ha_publisher, mosquitto):
    publisher, grammar, sub, calls = ha_publisher
    publisher.describe("moonshine-v2-small")
    expected = [t for t, _ in discovery.entities(Topics("voiced", "test"), grammar.intent_names())]
    assert wait_until(lambda: all(sub.payloads(t) for t in expected), 10), sub.messages
    late = Subscriber(mosquitto, ["homeassistant/#", "voiced/test/#"], client_id="home-assistant")
    try:
        # What Home Assistant sees when it (re)starts: every config and every state, retained.
        assert wait_until(lambda: all(late.payloads(t) for t in expected), 10), late.messages
        assert wait_until(lambda: late.payloads("voiced/test/state") and json.loads(
            late.payloads("voiced/test/state")[-1])["model"] == "moonshine-v2-small", 10), late.messages
        retained = {t: p for t, p, r in late.messages if r}
        assert retained["voiced/test/status"] == "online" and retained["voiced/test/listen"] == "on"
        assert retained["voiced/test/speech"] == "stop"
        # The switch's command topic is the one voiced obeys.
        switch = json.loads(retained["homeassistant/switch/voiced_test/listening/config"])
        late.client.publish(switch["command_topic"], switch["payload_off"], qos=1)
        assert wait_until(lambda: calls == [False] and sub.payloads(switch["state_topic"])[-1:] == ["off"], 10)
    finally:
        late.close()


def test_speech_result_and_state_as_an_utterance_goes_by(ha_publisher):
    from voiced.grammar.matcher import Matcher

    publisher, grammar, sub, _ = ha_publisher
    matcher = Matcher(grammar)
    assert wait_until(lambda: sub.payloads("voiced/test/speech") == ["stop"], 10)
    publisher.speech(True)
    publisher.speech(False)
    heard = Utterance(id="u1", text="turn on the light", start_s=0, end_s=1, latency_ms={"total": 40.0})
    publisher.publish(heard, matcher.match(heard.text), grammar)
    publisher.speech(True)
    publisher.speech(False)
    stray = Utterance(id="u2", text="open the pod bay doors", start_s=2, end_s=3, latency_ms={"total": 50.0})
    publisher.publish(stray, matcher.match(stray.text), grammar)

    assert wait_until(lambda: len(sub.payloads("voiced/test/result")) == 2, 10), sub.messages
    assert sub.payloads("voiced/test/speech") == ["stop", "start", "stop", "start", "stop"]
    results = [json.loads(p) for p in sub.payloads("voiced/test/result")]
    assert [(r["result"], r["intent"], r["text"], r["utterance_id"]) for r in results] == [
        ("recognized", "LightOn", "turn on the light", "u1"),
        ("not_recognized", None, "open the pod bay doors", "u2")]
    # In order: speech ends, then the result, for each utterance.
    with sub._lock:
        order = [(t, p) for t, p, _ in sub.messages if t in ("voiced/test/speech", "voiced/test/result")]
    assert [t.rsplit("/", 1)[1] + ("" if t.endswith("result") else f":{p}") for t, p in order] == \
        ["speech:stop", "speech:start", "speech:stop", "result", "speech:start", "speech:stop", "result"]
    assert wait_until(lambda: len(sub.payloads("voiced/test/event")) == 2, 10)
    events = [json.loads(p) for p in sub.payloads("voiced/test/event")]
    assert [e["event_type"] for e in events] == ["LightOn", "not_recognized"]
    assert events[1]["text"] == "open the pod bay doors"
    assert wait_until(lambda: json.loads(sub.payloads("voiced/test/state")[-1])["transcript"] == stray.text, 10)
    state = json.loads(sub.payloads("voiced/test/state")[-1])
    assert (state["result"], state["intent"], state["latency_ms"]) == ("not_recognized", None, 50.0)


def test_without_discovery_there_is_feedback_but_nothing_for_home_assistant(mosquitto):
    from voiced.grammar.loader import load_grammar_text
    from voiced.grammar.matcher import Matcher
    from voiced.mqtt.publisher import Publisher

    grammar = load_grammar_text(GRAMMAR)
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port)
    link = MqttLink(cfg, "voiced-plain", "voiced/test/status")
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test")
    publisher.announce(grammar)
    publisher.describe("moonshine-v2-small")
    sub = Subscriber(mosquitto, ["#"])
    link.start()
    assert link.wait_connected(10)
    try:
        publisher.speech(True)
        publisher.speech(False)
        utt = Utterance(id="u1", text="what time is it", start_s=0, end_s=1)
        publisher.publish(utt, Matcher(grammar).match(utt.text), grammar)
        assert wait_until(lambda: sub.payloads("voiced/test/intent/TimeGet"), 10)
        assert sub.payloads("voiced/test/speech") == ["stop", "start", "stop"]
        assert json.loads(sub.payloads("voiced/test/result")[0])["intent"] == "TimeGet"
        topics = {t for t, _, _ in sub.messages}
        assert not {t for t in topics if t.startswith("homeassistant/")}
        assert "voiced/test/state" not in topics and "voiced/test/event" not in topics
    finally:
        sub.close()
        link.close()


def test_feedback_while_the_broker_is_away_is_dropped_and_the_intent_is_kept(mosquitto_factory):
    from voiced.grammar.loader import load_grammar_text
    from voiced.grammar.matcher import Matcher
    from voiced.mqtt.publisher import Publisher

    broker = mosquitto_factory()
    broker.stop()
    grammar = load_grammar_text(GRAMMAR)
    cfg = replace(MqttConfig(), host=broker.host, port=broker.port, reconnect_max_s=1, ha_discovery=True)
    link = MqttLink(cfg, "voiced-away", "voiced/test/status")
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test")
    publisher.announce(grammar)
    link.start(wait_s=0.5)
    try:
        publisher.speech(True)
        utt = Utterance(id="u1", text="what time is it", start_s=0, end_s=1, latency_ms={"total": 5.0})
        publisher.publish(utt, Matcher(grammar).match(utt.text), grammar)
        publisher.speech(False)
        broker.start()
        sub = Subscriber(broker, ["voiced/test/#"])
        try:
            assert link.wait_connected(20) and link.flush(10)
            assert wait_until(lambda: sub.payloads("voiced/test/intent/TimeGet"), 10)  # queued, so kept
            assert wait_until(lambda: sub.payloads("voiced/test/state"), 10)
            time.sleep(0.5)
            assert sub.payloads("voiced/test/result") == []  # a beep this late helps no one
            assert sub.payloads("voiced/test/speech")[-1:] == ["stop"]  # the state, sent again on connect
            assert "start" not in sub.payloads("voiced/test/speech")
            # The sensors' state is sent again on connect, with the utterance heard while away.
            assert json.loads(sub.payloads("voiced/test/state")[-1])["transcript"] == "what time is it"
        finally:
            sub.close()
    finally:
        link.close()
