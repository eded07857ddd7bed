"""Labels files: structure errors and grammar checks name the file, the line and the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiced.errors import ConfigError
from voiced.evaluation.labels import Label, intent_slots, load_labels, save_labels, validate_labels
from voiced.grammar.loader import load_grammar, load_grammar_text

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "commands.yaml"

GRAMMAR = """
language: en
expansion_rules:
  room: "[the] {area}"
lists:
  area:
    values:
      - in: "(living room | lounge)"
        out: living_room
      - kitchen
  brightness:
    range: {from: 0, to: 100}
  item:
    wildcard: true
intents:
  LightOn:
    data:
      - sentences: ["turn on <room> light"]
  LightBrightness:
    data:
      - sentences: ["set <room> light to {brightness} percent"]
  ShoppingListAdd:
    data:
      - sentences: ["add {item} to my shopping list"]
"""


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=1))
    return path


def _problems(exc: pytest.ExceptionInfo) -> list:
    return [str(p) for p in exc.value.problems]


def test_round_trip_keeps_every_field(tmp_path):
    labels = {"a.wav": Label("LightOn", {"area": "kitchen"}, "turn on the kitchen light", {"noise": "clean"}),
              "b.wav": Label(None, {}, "hello there")}
    save_labels(labels, tmp_path / "l.json")
    assert load_labels(tmp_path / "l.json") == labels


def test_structure_errors_are_all_reported_with_file_line_and_key(tmp_path):
    path = _write(tmp_path, {
        "ok.wav": {"intent": "LightOn", "slots": {"area": "kitchen"}},
        "no_intent.wav": {"slots": {}},
        "bad_slot.wav": {"intent": "LightOn", "slots": {"area": ["kitchen"]}},
        "reject_with_slots.wav": {"intent": None, "slots": {"area": "kitchen"}},
        "typo.wav": {"intent": "LightOn", "slot": {}},
        "notes.txt": {"intent": None},
    })
    with pytest.raises(ConfigError) as exc:
        load_labels(path)
    text = _problems(exc)
    assert len(text) == 5
    assert all(t.startswith(f"{path}:") for t in text)
    joined = "\n".join(text)
    assert "no_intent.wav: missing 'intent'" in joined
    assert "bad_slot.wav.slots.area: slot value must be a string or a number" in joined
    assert "reject_with_slots.wav.slots: an entry with intent null cannot have slots" in joined
    assert "typo.wav: unknown key 'slot'" in joined
    assert "notes.txt: key is not a WAV file name" in joined
    line = path.read_text().splitlines().index(' "typo.wav": {') + 1
    assert f"{path}:{line}: typo.wav" in joined


def test_invalid_json_names_the_line(tmp_path):
    path = _write(tmp_path, '{\n "a.wav": {"intent": "LightOn",}\n}\n')
    with pytest.raises(ConfigError) as exc:
        load_labels(path)
    assert _problems(exc)[0].startswith(f"{path}:2: not valid JSON")


def test_unknown_intent_slot_and_value_against_the_grammar(tmp_path):
    grammar = load_grammar_text(GRAMMAR)
    path = _write(tmp_path, {
        "a.wav": {"intent": "LightOnn", "slots": {}},
        "b.wav": {"intent": "LightOn", "slots": {"room": "kitchen"}},
        "c.wav": {"intent": "LightOn", "slots": {"area": "living room"}},
        "d.wav": {"intent": "LightBrightness", "slots": {"area": "kitchen", "brightness": 150}},
        "e.wav": {"intent": "ShoppingListAdd", "slots": {"item": "anything at all"}},
        "f.wav": {"intent": "LightBrightness", "slots": {"area": "living_room", "brightness": 40}},
        "g.wav": {"intent": None},
    })
    with pytest.raises(ConfigError) as exc:
        validate_labels(load_labels(path), grammar, path)
    text = "\n".join(_problems(exc))
    assert len(exc.value.problems) == 4
    assert "a.wav.intent: unknown intent 'LightOnn' (hint: did you mean 'LightOn'?)" in text
    assert "b.wav.slots.room: intent LightOn has no slot 'room'" in text
    assert "c.wav.slots.area: 'living room' is not a value of list 'area' (hint: did you mean 'living_room'?)" in text
    assert "d.wav.slots.brightness: 150 is not in brightness" in text
    assert "e.wav" not in text and "f.wav" not in text


def test_slots_reached_through_rules_belong_to_the_intent():
    slots = intent_slots(load_grammar_text(GRAMMAR))
    assert slots["LightOn"] == {"area": "area"}
    assert slots["LightBrightness"] == {"area": "area", "brightness": "brightness"}


@pytest.mark.parametrize("name", ["commands.labels.json", "sentences.labels.json"])
def test_shipped_labels_fit_the_shipped_grammar(name, speech_dir):
    path = REPO / "config" / "eval" / name
    labels = load_labels(path)
    validate_labels(labels, load_grammar([SHIPPED]), path)
    folder = speech_dir / name.split(".")[0]
    assert sorted(labels) == sorted(p.name for p in folder.glob("*.wav"))
