"""Commands for the devices zigbee2mqtt knows: vocabulary that follows the home.

zigbee2mqtt publishes its device list (retained) on `<base>/bridge/devices`: a JSON array of
devices, each with `friendly_name`, `type` and `definition.exposes`, whose `light` and
`switch` exposes list the features a device takes (`state`, `brightness`, `color_xy` or
`color_hs`, `color_temp`). Groups come on `<base>/bridge/groups` with their `members`.
From these this module builds a grammar file: lists of friendly names with spoken forms
("living_room_lamp" -> "living room lamp") per capability, and intents with zigbee2mqtt's own
actions (`<base>/<friendly_name>/set`). The file is YAML text fed through the normal loader
with the user's command sets, so every check of a hand-written file applies to it too.

Names from the device list are data: spoken forms keep only letters, digits and apostrophes
(no template syntax can reach the grammar), and a friendly name that is not one topic level
(zigbee2mqtt allows `/` to nest topics) is left out with a warning rather than spliced into a
topic. Zigbee2mqttWatcher rebuilds the file whenever the retained lists change (a device paired,
renamed or removed) and hands it over for the same atomic swap a SIGHUP reload does.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple, Union

import yaml

from voiced.errors import VoicedError
from voiced.mqtt.topics import level_problem, prefix_problem

if TYPE_CHECKING:
    from voiced.grammar.model import Grammar

log = logging.getLogger(__name__)

SOURCE_NAME = "<zigbee2mqtt devices>"
"""the file name the generated grammar's problems and warnings carry"""
INTENT_PREFIX = "Zigbee2mqtt"
CAPABILITIES = ("state", "brightness", "color", "color_temp")
# zigbee2mqtt takes a colour as {"hex": ...} (converted to the bulb's xy or hue/saturation).
COLORS = {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff", "yellow": "#ffff00", "orange": "#ffa500",
          "purple": "#800080", "pink": "#ffc0cb", "white": "#ffffff", "cyan": "#00ffff", "magenta": "#ff00ff",
          "teal": "#008080", "lavender": "#e6e6fa", "turquoise": "#40e0d0"}
# Colour temperature in mired, zigbee2mqtt's color_temp presets (coolest 153 ... warmest 500).
WHITES = {"daylight": 153, "cool white": 250, "neutral white": 370, "warm white": 454, "candle light": 500}
BRIGHTNESS_MAX = 254  # zigbee2mqtt's brightness scale for every light
SKIP_WORDS = ("please", "could you", "would you", "can you", "just", "now")


class Zigbee2mqttError(VoicedError):
    """A device or group list that is not zigbee2mqtt's documented JSON."""


@dataclass(frozen=True)
class Target:
    """A device or group commands can address."""

    friendly_name: str
    spoken: str
    kind: str
    """device or group"""
    features: FrozenSet[str]
    """what of CAPABILITIES it takes"""


Json = Union[str, bytes, List[Any], None]


def spoken_form(name: str) -> str:
    """How a friendly name is said: "living_room_lamp", "LivingRoomLamp" and "living-room/lamp"
    all give "living room lamp". Only letters, digits and apostrophes remain."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # camelCase
    text = re.sub(r"[^\w']|_", " ", text)
    return " ".join(text.lower().split())


def _array(data: Json, what: str) -> List[Any]:
    if data is None:
        return []
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise Zigbee2mqttError(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise Zigbee2mqttError(f"{what} is not a JSON array (got {type(data).__name__})")
    return data


def features(exposes: Any) -> FrozenSet[str]:
    """CAPABILITIES a device's `exposes` offer on its main endpoint. Features of another endpoint
    (property `state_l2`) are left out: their payload key is not the one the intents send."""
    found = set()
    for expose in exposes if isinstance(exposes, list) else []:
        if not isinstance(expose, dict):
            continue
        nested = expose.get("features")
        if expose.get("type") in ("light", "switch"):
            items: List[Any] = nested if isinstance(nested, list) else []
        else:
            items = [expose]  # a top-level feature (rare, but documented)
        for feature in items:
            if not isinstance(feature, dict):
                continue
            name, prop = feature.get("name"), feature.get("property")
            if name in ("state", "brightness", "color_temp") and prop == name:
                found.add(name)
            elif name in ("color_xy", "color_hs") and prop == "color":
                found.add("color")
    return frozenset(found)


def parse_devices(devices_json: Json) -> Tuple[List[Target], Dict[str, FrozenSet[str]]]:
    """The devices that take a command, and every device's features by IEEE address (for groups)."""
    targets: List[Target] = []
    by_address: Dict[str, FrozenSet[str]] = {}
    for device in _array(devices_json, "bridge/devices"):
        if not isinstance(device, dict) or device.get("type") == "Coordinator" or device.get("disabled"):
            continue
        name = device.get("friendly_name")
        definition = device.get("definition")
        if not isinstance(name, str) or not isinstance(definition, dict):
            continue  # not supported (yet): zigbee2mqtt cannot command it either
        offered = features(definition.get("exposes"))
        if isinstance(device.get("ieee_address"), str):
            by_address[device["ieee_address"]] = offered
        if offered:  # sensors and remotes take no command
            targets.append(Target(name, spoken_form(name), "device", offered))
    return targets, by_address


def parse_groups(groups_json: Json, by_address: Dict[str, FrozenSet[str]]) -> List[Target]:
    """Groups with members: a group takes what all of its members take."""
    targets = []
    for group in _array(groups_json, "bridge/groups"):
        if not isinstance(group, dict) or not isinstance(group.get("friendly_name"), str):
            continue
        members = [m.get("ieee_address") for m in group.get("members") or [] if isinstance(m, dict)]
        known = [by_address[m] for m in members if m in by_address]
        if not known:
            continue  # an empty group (or only unknown devices) does nothing
        offered = frozenset.intersection(*known)
        if offered:
            targets.append(Target(group["friendly_name"], spoken_form(group["friendly_name"]), "group", offered))
    return targets


def targets_from(devices_json: Json, groups_json: Json = None) -> List[Target]:
    """Every device and group a command can address, in the order zigbee2mqtt lists them.
    Names that cannot be a topic level or said are left out with a warning; of two with the
    same spoken form the first is kept."""
    devices, by_address = parse_devices(devices_json)
    kept: List[Target] = []
    spoken: Dict[str, str] = {}
    for target in devices + parse_groups(groups_json, by_address):
        problem = level_problem(target.friendly_name)
        if problem:
            log.warning("zigbee2mqtt %s %r left out: %s (rename it without '/' to command it by voice)",
                        target.kind, target.friendly_name, problem)
        elif not target.spoken:
            log.warning("zigbee2mqtt %s %r left out: its name has no letters or digits to say",
                        target.kind, target.friendly_name)
        elif target.spoken in spoken:
            log.warning("zigbee2mqtt %s %r left out: it is said like %r (%r)", target.kind, target.friendly_name,
                        spoken[target.spoken], target.spoken)
        else:
            spoken[target.spoken] = target.friendly_name
            kept.append(target)
    return kept


def grammar_text(devices_json: Json, groups_json: Json, base_topic: str) -> Optional[str]:
    """A grammar file (YAML) for the devices and groups; None when none takes a command."""
    return _text(targets_from(devices_json, groups_json), base_topic)


def _text(targets: List[Target], base_topic: str) -> Optional[str]:
    problem = prefix_problem(base_topic)
    if problem:
        raise Zigbee2mqttError(f"base topic {base_topic!r}: {problem}")
    document = grammar_document(targets, base_topic)
    if not document["intents"]:
        return None
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def grammar_from_devices(devices_json: Json, groups_json: Json, base_topic: str) -> Optional["Grammar"]:
    """The generated grammar loaded on its own (every check applied);
    None when no device takes a command. Raises GrammarError or Zigbee2mqttError."""
    from voiced.grammar.loader import load_grammar_text

    text = grammar_text(devices_json, groups_json, base_topic)
    return load_grammar_text(text, SOURCE_NAME) if text is not None else None


def _values(targets: Iterable[Target]) -> Dict[str, Any]:
    return {"values": [{"in": t.spoken, "out": t.friendly_name} for t in targets]}


def grammar_document(targets: List[Target], base_topic: str) -> Dict[str, Any]:
    """The grammar file as data: lists per capability and an intent for each capability some
    target has. Topics and payloads are zigbee2mqtt's: `<base>/<friendly_name>/set`."""
    topic = base_topic.replace("{", "{{").replace("}", "}}") + "/{device}/set"
    lists: Dict[str, Any] = {}
    intents: Dict[str, Any] = {}

    def offer(capability: str, intent: str, sentences: List[str], payload: Dict[str, Any],
              extra: Optional[Dict[str, Any]] = None) -> None:
        able = [t for t in targets if capability in t.features]
        if not able:
            return
        lists[f"zigbee2mqtt_{capability}"] = _values(able)
        lists.update(extra or {})
        action: Dict[str, Any] = {"topic": topic, "payload": payload}
        if capability == "color":
            action["maps"] = {"colors": {name: {"hex": value} for name, value in COLORS.items()}}
        intents[INTENT_PREFIX + intent] = {"data": [{"sentences": sentences}], "action": action}

    dev = "{zigbee2mqtt_%s:device}"
    offer("state", "TurnOn", [f"(turn | switch) on [the] {dev % 'state'}",
                              f"(turn | switch) [the] {dev % 'state'} on"], {"state": "ON"})
    offer("state", "TurnOff", [f"(turn | switch | shut) off [the] {dev % 'state'}",
                               f"(turn | switch) [the] {dev % 'state'} off"], {"state": "OFF"})
    level = "{zigbee2mqtt_percent:brightness}"
    offer("brightness", "SetBrightness",
          [f"(set | dim | change) [the] {dev % 'brightness'} [brightness] to {level} [percent]",
           f"(set | change) [the] brightness [of] [the] {dev % 'brightness'} to {level} [percent]"],
          {"state": "ON", "brightness": "{brightness | scale(0, 100, 0, %d) | round}" % BRIGHTNESS_MAX},
          {"zigbee2mqtt_percent": {"range": {"from": 0, "to": 100}}})
    offer("color", "SetColor",
          [f"(set | turn | make | change) [the] {dev % 'color'} [to] {{zigbee2mqtt_colors:color}}"],
          {"state": "ON", "color": "{color | map(colors)}"}, {"zigbee2mqtt_colors": {"values": list(COLORS)}})
    offer("color_temp", "SetWhite",
          [f"(set | turn | make | change) [the] {dev % 'color_temp'} [to] {{zigbee2mqtt_whites:white}}"],
          {"state": "ON", "color_temp": "{white}"},
          {"zigbee2mqtt_whites": {"values": [{"in": name, "out": mired} for name, mired in WHITES.items()]}})
    # The shipped command set's fillers, so "would you please turn on ..." works without it too.
    return {"language": "en", "skip_words": list(SKIP_WORDS), "lists": lists, "intents": intents}


class Zigbee2mqttWatcher:
    """Follows zigbee2mqtt's retained device and group lists on an MQTT link (anything with
    `subscribe(topic, handler(topic, payload))`, such as voiced.mqtt.link.MqttLink) and calls
    `on_change(text)` with the new grammar file (None: nothing to command) whenever what can be
    commanded changes. A list that does not load is logged and the previous file kept.
    Handlers run on the link's network thread; `on_change` should only hand the text over."""

    def __init__(self, link: Any, base_topic: str, on_change: Callable[[Optional[str]], None],
                 groups: bool = True):
        problem = prefix_problem(base_topic)
        if problem:
            raise Zigbee2mqttError(f"base topic {base_topic!r}: {problem}")
        self._link = link
        self._base = base_topic
        self._on_change = on_change
        self._use_groups = groups
        self._lock = threading.Lock()
        self._devices: Optional[bytes] = None
        self._groups: Optional[bytes] = None
        self._targets: Dict[Tuple[str, str], FrozenSet[str]] = {}
        self._delivered = False
        self.text: Optional[str] = None
        """the grammar file last handed to on_change"""

    def start(self) -> None:
        """Subscribe; the link restores subscriptions on reconnect and the broker resends the retained lists."""
        self._link.subscribe(f"{self._base}/bridge/devices", self._on_devices)
        if self._use_groups:
            self._link.subscribe(f"{self._base}/bridge/groups", self._on_groups)

    def _on_devices(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self._devices = payload
            self._rebuild()

    def _on_groups(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self._groups = payload
            if self._devices is not None:  # groups alone name no device
                self._rebuild()

    def _rebuild(self) -> None:
        from voiced.errors import GrammarError
        from voiced.grammar.loader import load_grammar_text

        try:
            targets = targets_from(self._devices or b"[]", self._groups or None)
            text = _text(targets, self._base)
            if text is not None:
                load_grammar_text(text, SOURCE_NAME)  # every check, before anything is swapped
        except (Zigbee2mqttError, GrammarError) as exc:
            log.error("zigbee2mqtt device list not used (keeping the previous commands): %s", exc)
            return
        if self._delivered and text == self.text:
            return
        self._log_changes({(t.kind, t.friendly_name): t.features for t in targets})
        self.text, self._delivered = text, True
        self._on_change(text)

    def _log_changes(self, now: Dict[Tuple[str, str], FrozenSet[str]]) -> None:
        def names(keys: Iterable[Tuple[str, str]]) -> str:
            return ", ".join(f"{name} ({kind})" for kind, name in keys)

        added = [k for k in now if k not in self._targets]
        removed = [k for k in self._targets if k not in now]
        changed = [k for k in now if k in self._targets and now[k] != self._targets[k]]
        for what, keys in (("added", added), ("removed", removed), ("changed", changed)):
            if keys:
                log.info("zigbee2mqtt: %s %s", what, names(keys))
        log.info("zigbee2mqtt: %d devices and groups can be commanded", len(now))
        self._targets = now


def watch(link: Any, config: Any, on_change: Callable[[Optional[str]], None]) -> Optional[Zigbee2mqttWatcher]:
    """A started watcher for config.sources.zigbee2mqtt (a voiced.config.Zigbee2mqttConfig), or
    None when it has no base_topic (off)."""
    if not config.base_topic:
        return None
    watcher = Zigbee2mqttWatcher(link, config.base_topic, on_change, groups=config.groups)
    watcher.start()
    return watcher


def extra_files(text: Optional[str]) -> List[Tuple[str, str]]:
    """The generated file as voiced.grammar.loader.load_grammar's `extra` argument."""
    return [(SOURCE_NAME, text)] if text else []


if __name__ == "__main__":
    # Show the commands a saved device list gives, e.g.
    #   mosquitto_sub -C 1 -t zigbee2mqtt/bridge/devices > devices.json
    #   python -m voiced.sources.zigbee2mqtt devices.json [groups.json] [base_topic]
    import sys
    from pathlib import Path

    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m voiced.sources.zigbee2mqtt DEVICES.json [GROUPS.json] [BASE_TOPIC]")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    groups_json = Path(args[1]).read_bytes() if len(args) > 1 else None
    print(grammar_text(Path(args[0]).read_bytes(), groups_json, args[2] if len(args) > 2 else "zigbee2mqtt") or
          "# no device takes a command")
