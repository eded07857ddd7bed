"""zigbee2mqtt device import: a recorded bridge/devices list gives lists, intents and actions
zigbee2mqtt obeys; the watcher follows the retained list on a real broker."""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import List, Optional

import paho.mqtt.client as mqtt
import pytest

from voiced.config import load_config
from voiced.grammar import Matcher, load_grammar, render_action
from voiced.grammar.actions import action_list
from voiced.grammar.loader import shipped_grammar_path
from voiced.sources.zigbee2mqtt import (
    SOURCE_NAME,
    Zigbee2mqttError,
    Zigbee2mqttWatcher,
    extra_files,
    grammar_from_devices,
    grammar_text,
    spoken_form,
    targets_from,
    watch,
)
from tests.mqtt_support import Broker

FIXTURES = Path(__file__).parent / "fixtures" / "zigbee2mqtt"
DEVICES = (FIXTURES / "bridge_devices.json").read_bytes()
GROUPS = (FIXTURES / "bridge_groups.json").read_bytes()


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    grammar = grammar_from_devices(DEVICES, GROUPS, "zigbee2mqtt")
    assert grammar is not None
    return Matcher(grammar)


def actions_for(matcher: Matcher, text: str):
    result = matcher.match(text)
    assert result.recognized, (text, result.reason)
    return result.intent, [(topic, json.loads(payload)) for topic, payload in
                           (render_action(a, result) for a in action_list(matcher.grammar.intents[result.intent].action))]


@pytest.mark.parametrize("name, spoken", [
    ("living_room_lamp", "living room lamp"), ("KitchenCeiling", "kitchen ceiling"),
    ("coffee-maker", "coffee maker"), ("Hall (upstairs) [2]|x", "hall upstairs 2 x"), ("{}<>", ""),
])
def test_spoken_forms_keep_only_words(name, spoken):
    assert spoken_form(name) == spoken


def test_lists_hold_what_each_device_and_group_takes(matcher, caplog):
    lists = {name: [(v.spoken, v.value) for v in slot_list.values]
             for name, slot_list in matcher.grammar.lists.items() if slot_list.values}
    lamp, ceiling, plug, group = (("living room lamp", "living_room_lamp"), ("kitchen ceiling", "KitchenCeiling"),
                                  ("coffee maker", "coffee-maker"), ("downstairs lights", "downstairs_lights"))
    assert lists["zigbee2mqtt_state"] == [lamp, ceiling, plug, group]  # no coordinator, sensor or empty group
    assert lists["zigbee2mqtt_brightness"] == [lamp, ceiling, group]  # the group takes what all members take
    assert lists["zigbee2mqtt_color"] == [lamp]
    assert lists["zigbee2mqtt_color_temp"] == [lamp]
    assert sorted(matcher.grammar.intents) == ["Zigbee2mqttSetBrightness", "Zigbee2mqttSetColor",
                                               "Zigbee2mqttSetWhite", "Zigbee2mqttTurnOff", "Zigbee2mqttTurnOn"]


def test_a_name_that_is_not_one_topic_level_is_left_out_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="voiced.sources.zigbee2mqtt"):
        names = [t.friendly_name for t in targets_from(DEVICES, GROUPS)]
    assert "garden/path_light" not in names
    assert "garden/path_light" in caplog.text and "'/'" in caplog.text


@pytest.mark.parametrize("text, intent, topic, payload", [
    ("turn on the living room lamp", "Zigbee2mqttTurnOn", "zigbee2mqtt/living_room_lamp/set", {"state": "ON"}),
    ("switch the coffee maker off", "Zigbee2mqttTurnOff", "zigbee2mqtt/coffee-maker/set", {"state": "OFF"}),
    ("turn off the downstairs lights", "Zigbee2mqttTurnOff", "zigbee2mqtt/downstairs_lights/set", {"state": "OFF"}),
    ("set the living room lamp to green", "Zigbee2mqttSetColor", "zigbee2mqtt/living_room_lamp/set",
     {"state": "ON", "color": {"hex": "#00ff00"}}),
    ("dim the kitchen ceiling to 50 percent", "Zigbee2mqttSetBrightness", "zigbee2mqtt/KitchenCeiling/set",
     {"state": "ON", "brightness": 127}),
    ("set the brightness of the downstairs lights to 100 percent", "Zigbee2mqttSetBrightness",
     "zigbee2mqtt/downstairs_lights/set", {"state": "ON", "brightness": 254}),
    ("make the living room lamp warm white", "Zigbee2mqttSetWhite", "zigbee2mqtt/living_room_lamp/set",
     {"state": "ON", "color_temp": 454}),
])
def test_commands_give_zigbee2mqtt_set_messages(matcher, text, intent, topic, payload):
    assert actions_for(matcher, text) == (intent, [(topic, payload)])


def test_what_a_device_does_not_take_is_not_offered(matcher):
    assert not matcher.match("set the coffee maker to green").recognized
    assert matcher.match("dim the coffee maker to 50 percent").intent != "Zigbee2mqttSetBrightness"


def test_merged_with_the_shipped_set_through_the_normal_loader():
    text = grammar_text(DEVICES, GROUPS, "home/z2m")
    grammar = load_grammar([shipped_grammar_path()], extra=[(SOURCE_NAME, text)])
    assert "LightOn" in grammar.intents and "Zigbee2mqttTurnOn" in grammar.intents
    intent, actions = actions_for(Matcher(grammar), "turn on the kitchen ceiling")
    assert actions == [("home/z2m/KitchenCeiling/set", {"state": "ON"})]
    # A name both sets know (the shipped list has a coffee maker too) is ambiguous: not guessed.
    assert Matcher(grammar).match("turn on the coffee maker").reason == "ambiguous intent"


def test_no_commandable_device_gives_no_grammar_and_junk_is_an_error():
    assert grammar_text(b"[]", None, "zigbee2mqtt") is None
    assert grammar_from_devices(json.dumps([{"type": "Coordinator", "friendly_name": "Coordinator"}]), b"[]",
                                "zigbee2mqtt") is None
    with pytest.raises(Zigbee2mqttError, match="not JSON"):
        grammar_text(b"{nope", None, "zigbee2mqtt")
    with pytest.raises(Zigbee2mqttError, match="not a JSON array"):
        grammar_text(b'{"a": 1}', None, "zigbee2mqtt")
    with pytest.raises(Zigbee2mqttError, match="base topic"):
        grammar_text(DEVICES, None, "zigbee2mqtt/#")


def test_config_section_starts_the_watcher_only_when_set():
    cfg = load_config(text="sources: {zigbee2mqtt: {base_topic: zigbee2mqtt, groups: false}}\n")
    assert cfg.sources.zigbee2mqtt.base_topic == "zigbee2mqtt" and not cfg.sources.zigbee2mqtt.groups

    class Link:
        def __init__(self):
            self.topics = []

        def subscribe(self, topic, handler):
            self.topics.append(topic)

    link = Link()
    assert watch(link, load_config(text="").sources.zigbee2mqtt, print) is None and link.topics == []
    assert watch(link, cfg.sources.zigbee2mqtt, print) is not None
    assert link.topics == ["zigbee2mqtt/bridge/devices"]  # groups: false
    assert extra_files(None) == [] and extra_files("x: 1") == [(SOURCE_NAME, "x: 1")]


# --- the watcher against a real broker ------------------------------------------------------

class PahoLink:
    """The subscribe(topic, handler) side of voiced.mqtt.link.MqttLink, on a plain paho client."""

    def __init__(self, broker: Broker):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.handlers = {}
        self.client.on_message = lambda c, u, msg: self.handlers[msg.topic](msg.topic, msg.payload)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def subscribe(self, topic: str, handler) -> None:
        self.handlers[topic] = handler
        self.client.subscribe(topic, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publish_retained(broker: Broker, topic: str, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path).start()
    yield broker
    broker.stop()


def wait_for(texts: List[Optional[str]], count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(texts) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(texts) >= count, f"got {len(texts)} grammars, wanted {count}"


def test_watcher_builds_the_grammar_from_the_retained_list_and_follows_changes(broker, caplog):
    publish_retained(broker, "zigbee2mqtt/bridge/devices", DEVICES)
    publish_retained(broker, "zigbee2mqtt/bridge/groups", GROUPS)
    texts: List[Optional[str]] = []
    changed = threading.Event()
    link = PahoLink(broker)
    watcher = Zigbee2mqttWatcher(link, "zigbee2mqtt", lambda text: (texts.append(text), changed.set()))
    try:
        with caplog.at_level(logging.INFO, logger="voiced.sources.zigbee2mqtt"):
            watcher.start()
            wait_for(texts, 1)
            # The groups list may come second: wait until the group is in.
            deadline = time.monotonic() + 10
            while "downstairs_lights" not in (texts[-1] or "") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "downstairs_lights" in texts[-1] and "living_room_lamp" in texts[-1]
            matcher = Matcher(load_grammar([], extra=[(SOURCE_NAME, texts[-1])]))
            assert actions_for(matcher, "turn on the living room lamp")[1] == [
                ("zigbee2mqtt/living_room_lamp/set", {"state": "ON"})]

            # A device paired and one removed: the callback runs again, with both logged.
            before = len(texts)
            devices = [d for d in json.loads(DEVICES) if d["friendly_name"] != "coffee-maker"]
            bulb = json.loads(DEVICES)[2]
            devices.append(dict(bulb, ieee_address="0x000d6ffffe8c4b99", friendly_name="hallway_light"))
            publish_retained(broker, "zigbee2mqtt/bridge/devices", json.dumps(devices).encode())
            wait_for(texts, before + 1)
        assert "hallway_light" in texts[-1] and "coffee-maker" not in texts[-1]
        assert "added hallway_light (device)" in caplog.text and "removed coffee-maker (device)" in caplog.text

        # The same list again (a zigbee2mqtt restart) and a broken one change nothing.
        count = len(texts)
        publish_retained(broker, "zigbee2mqtt/bridge/devices", json.dumps(devices).encode())
        publish_retained(broker, "zigbee2mqtt/bridge/devices", b"{broken")
        time.sleep(0.5)
        assert len(texts) == count and watcher.text == texts[-1]
        assert "not used (keeping the previous commands)" in caplog.text
    finally:
        link.close()
