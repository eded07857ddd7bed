"""`voiced match`, `voiced check-config` and `voiced bench match` through the real CLI entry point."""
from __future__ import annotations

import json
import time
from pathlib import Path

from voiced.cli import main
from voiced.errors import EXIT_CONFIG
from voiced.grammar.loader import shipped_grammar_path


def test_match_prints_json(capsys):
    assert main(["match", "turn on the kitchen lite"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recognized"] and out["intent"] == "LightOn" and out["slots"]["area"]["value"] == "kitchen"
    assert out["action"] == {"topic": "zigbee2mqtt/kitchen_light/set", "payload": '{"state": "ON"}',
                             "qos": 0, "retain": False}


def test_match_not_recognized_with_guesses(capsys, tmp_path: Path):
    grammar = tmp_path / "g.yaml"
    grammar.write_text("intents:\n  A: {data: [{sentences: ['open the door']}]}\n")
    assert main(["match", "open the window", "--grammar", str(grammar)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not out["recognized"] and out["intent"] is None and out["reason"]
    assert out["alternatives"][0]["intent"] == "A"


def test_check_config_ok(capsys, tmp_path: Path):
    config = tmp_path / "voiced.yaml"
    config.write_text(f"grammar:\n  paths: [{shipped_grammar_path()}]\n  threshold: 0.8\n")
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok:") and "intents" in out


def test_check_config_reports_config_and_grammar_errors_together(capsys, tmp_path: Path):
    (tmp_path / "commands.yaml").write_text("intents:\n  A:\n    data: [{sentences: ['turn {on']}]\n")
    config = tmp_path / "voiced.yaml"
    config.write_text("grammar:\n  paths: [commands.yaml]\n  treshold: 2\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "voiced.yaml:3" in err and "treshold" in err  # config problem, with line
    # grammar paths are relative to the config file; with a bad config the grammar is still named
    assert main(["check-config", "--grammar", str(tmp_path / "commands.yaml")]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "commands.yaml:3" in err and "never closed" in err


def test_check_config_grammar_relative_to_config(capsys, tmp_path: Path):
    (tmp_path / "commands.yaml").write_text("intents:\n  A:\n    data: [{sentences: ['turn {on}']}]\n")
    config = tmp_path / "voiced.yaml"
    config.write_text("grammar:\n  paths: [commands.yaml]\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert str(tmp_path / "commands.yaml") + ":3" in err and "unknown slot list '{on}'" in err


def test_bench_match_prints_numbers(capsys):
    assert main(["bench", "match", "--sentences", "20"]) == 0
    out = capsys.readouterr().out
    assert "compile" in out and "p99" in out and "synthetic" in out


def test_check_config_warns_when_the_rescoring_index_would_leave_templates_out(capsys, tmp_path: Path):
    # one template with four slots of 100 values: 10^8 sentences, which the daemon once tried to
    # index (MemoryError at 3.5 GB after 117 s) while check-config said ok
    values = ", ".join(f"v{a}{b}x" for a in "bcdfghjklm" for b in "aeiouyrstn")
    lists = "".join(f"  {name}: {{values: [{values}]}}\n" for name in ("a", "b", "c", "d"))
    grammar = tmp_path / "grid.yaml"
    grammar.write_text(f"lists:\n{lists}intents:\n  SetGrid: {{data: [{{sentences: ['set {{a}} {{b}} {{c}} {{d}}']}}]}}\n"
                       "  LightOn: {data: [{sentences: ['turn on the light']}]}\n")
    start = time.perf_counter()
    assert main(["check-config", "--grammar", str(grammar)]) == 0
    assert time.perf_counter() - start < 10  # counted, not built
    captured = capsys.readouterr()
    # by default (constrained: auto) the grammar search covers what the index leaves out
    assert captured.out.startswith("ok:") and captured.err == ""
    assert ("rescoring: intent(s) SetGrid too large for the sentence index (100,000,000 sentences): the "
            "grammar-constrained search covers them") in captured.out
    off = tmp_path / "off.yaml"
    off.write_text("grammar:\n  paths: [grid.yaml]\nrescoring:\n  constrained: \"off\"\n")
    assert main(["check-config", "--config", str(off)]) == 0
    [warning] = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("voiced: warning: rescoring sentence index: intent(s) SetGrid left out")
    assert "100,000,000 sentences" in warning and "rescoring.max_index_sentences" in warning
    config = tmp_path / "voiced.yaml"
    config.write_text("grammar:\n  paths: [grid.yaml]\nrescoring:\n  neighbours: 0\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().err == ""  # no index, nothing left out
