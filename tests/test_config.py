"""The config schema: defaults, validation that reports every problem with file, line and key."""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.cli import main
from voiced.config import Config, RescoringConfig, load_config
from voiced.config_rules import check_rules, validate
from voiced.errors import EXIT_CONFIG, ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_empty_file_gives_defaults():
    assert load_config(text="") == Config()


def test_values_are_read_into_sections():
    cfg = load_config(text="site_id: kitchen\nvad:\n  threshold: 0.6\nmodel:\n  affinity: [2, 3]\n"
                           "mqtt:\n  port: 8883\n  tls:\n    ca_certs: /etc/ca.pem\n")
    assert cfg.site_id == "kitchen"
    assert cfg.vad.threshold == 0.6
    assert cfg.model.affinity == [2, 3]
    assert cfg.mqtt.port == 8883 and cfg.mqtt.tls.ca_certs == "/etc/ca.pem"


def test_int_is_accepted_for_float_settings():
    cfg = load_config(text="vad:\n  max_utterance_s: 10\n")
    assert cfg.vad.max_utterance_s == 10.0 and isinstance(cfg.vad.max_utterance_s, float)


def test_every_problem_is_reported_at_once_with_line_and_key():
    text = ("site_id: k\n"
            "vad:\n"
            "  threshold: 2\n"
            "  min_silense_ms: 300\n"
            "mqtt:\n"
            "  port: not-a-port\n"
            "audio:\n"
            "  source:\n"
            "  channel: -1\n")
    with pytest.raises(ConfigError) as err:
        load_config("/etc/voiced/voiced.yaml", text=text)
    found = {(p.key, p.line) for p in err.value.problems}
    assert found == {("vad.threshold", 3), ("vad.min_silense_ms", 4), ("mqtt.port", 6),
                     ("audio.source", 8), ("audio.channel", 9)}
    message = str(err.value)
    assert "/etc/voiced/voiced.yaml:4: vad.min_silense_ms: unknown setting (hint: did you mean 'min_silence_ms'?)" \
        in message
    assert "5 config errors" in message


def test_choices_are_enforced():
    with pytest.raises(ConfigError) as err:
        load_config(text="rescoring:\n  mode: sometimes\n")
    assert "use one of: off, uncertain, always" in str(err.value)


def test_a_section_that_is_not_a_mapping_is_an_error():
    with pytest.raises(ConfigError) as err:
        load_config(text="vad: 3\n")
    assert err.value.problems[0].key == "vad"


def test_broken_yaml_names_the_line():
    with pytest.raises(ConfigError) as err:
        load_config("x.yaml", text="vad:\n  threshold: [0.5\n")
    assert err.value.problems[0].file == "x.yaml" and err.value.problems[0].line is not None


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    path = tmp_path / "voiced.yaml"
    path.write_text("grammar:\n  paths: [commands.yaml]\n")
    cfg = load_config(path)
    assert cfg.resolve(cfg.grammar.paths[0]) == tmp_path / "commands.yaml"
    assert cfg.resolve("/abs/file") == Path("/abs/file")


def test_shipped_example_config_is_valid():
    cfg = load_config(REPO / "config" / "voiced.yaml")
    assert cfg.resolve(cfg.grammar.paths[0]).exists()




# --- broken files: one clear problem each, never a traceback -------------------------------

LAUGHS = "lol: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]\n" for i, (p, c) in enumerate(zip("abcdefgh", "bcdefghi")))
BROKEN = [
    (b"# caf\xe9\nsite_id: x\n", 1, None, "byte 0xe9 (column 6) is not UTF-8 text", "save the file as UTF-8"),
    ("vad:\n  threshold: [0.5\n", 3, None, "not valid YAML", "indentation"),
    ("site_id: !e x\n", 1, None, "unknown tag '!e'", "remove the tag"),
    ("vad:\n  threshold: !!python/object:os.system x\n", 2, None, "unknown tag", "remove the tag"),
    ("speculative: !!bool maybe\n", 1, "speculative", "'maybe' is not a valid !!bool", "quote"),
    ("site_id: !<x%0Ay> k\n", 1, None, "unknown tag 'x\\ny' on a value", "remove the tag"),
    ("? []\n: 1\n", 1, None, "a key must be a name, not a list", "name: value"),
    ("vad:\n  ? {a: 1}\n  : 1\n", 2, None, "a key must be a name, not a mapping", "name: value"),
    ('"site\\nid": x\n', 1, None, "line break", "one line"),
    ("vad:\n" + "".join("  " * i + "x:\n" for i in range(1, 1000)), 51, None, "nested more than 50 levels",
     "flatten"),
    ("vad: " + "[" * 1000 + "]" * 1000 + "\n", 1, None, "nested more than 50 levels", "flatten"),
    ("vad: &a [*a]\n", 1, None, "through aliases", "alias"),
    (LAUGHS, 1, None, "more than 100000 values once aliases", "aliases"),
    ("a: 1\n---\nb: 2\n", 2, None, "expected a single document in the stream, but found another", "indentation"),
    ("site_id: \x07\n", 1, None, "#x0007 is not allowed", "escape"),
    ("vad:\n  threshold: .nan\n", 2, "vad.threshold", "nan is not a number", "from 0.0 to 1.0"),
    ("vad:\n  max_utterance_s: .inf\n", 2, "vad.max_utterance_s", "inf is not allowed", "from 1 to 120"),
    ("rescoring:\n  neighbours_gap: .nan\n", 2, "rescoring.neighbours_gap", "nan is not a number", "at least"),
    ("rescoring:\n  neighbours_gap: -.inf\n", 2, "rescoring.neighbours_gap", "-inf is not allowed", "at least"),
    ("rescoring:\n  neighbours_gap: 1" + "0" * 400 + "\n", 2, "rescoring.neighbours_gap", "out of range", "at least"),
    ("audio:\n  channel: 1" + "0" * 30 + "\n", 2, "audio.channel", "out of range", "from 0 to 31"),
    ("site_id: 'kitchen/#'\n", 1, "site_id", "wildcard '#'", "one word"),
    ("site_id: kitchen/left\n", 1, "site_id", "'/'", "one word"),
    ("site_id: ''\n", 1, "site_id", "empty", "one word"),
    ("mqtt:\n  topic_prefix: home//voiced\n", 2, "mqtt.topic_prefix", "empty levels", "home/voiced"),
    ("mqtt:\n  discovery_prefix: 'ha/+'\n", 2, "mqtt.discovery_prefix", "wildcard '+'", "home/voiced"),
    ("mqtt:\n  client_id: ' '\n", 2, "mqtt.client_id", "must not be empty", "leave the setting out"),
    ("site_id: a\nsite_id: b\n", 2, "site_id", "given twice", "first at line 1"),
]


BROKEN_RULES = [
    ("vad:\n  neg_threshold: 0.6\n  threshold: 0.5\n", 3, "vad.threshold", "above threshold 0.5",
     "at most 0.5"),
    ("vad:\n  threshold: 0.3\n", 2, "vad.threshold", "neg_threshold 0.35 is above", "at most 0.3"),
    ("audio:\n  source: file\n", 2, "audio.source", "no audio.file", "--file"),
    ("audio:\n  channel: 1\n  source: stdin\n", 3, "audio.source", "channel 1 does not exist in 1", "0 to 0"),
    ("audio:\n  channels: 2\n  channel: 2\n", 3, "audio.channel", "channel 2 does not exist in 2", "0 to 1"),
    ("mqtt:\n  username: u\n  password_file: p\n  password: x\n", 4, "mqtt.password", "both", "keep one"),
    ("mqtt:\n  password: x\n", 2, "mqtt.password", "without username", "mqtt.username"),
    ("mqtt:\n  tls:\n    ca_certs: ca.pem\n    keyfile: k.pem\n", 4, "mqtt.tls.keyfile", "keyfile without certfile",
     "certfile"),
    ("mqtt:\n  tls:\n    certfile: c.pem\n", 3, "mqtt.tls.certfile", "TLS stays off", "ca_certs"),
]


# A rule between settings is reported once too, at the line of the later key.
@pytest.mark.parametrize("text, line, key, message, hint", BROKEN + BROKEN_RULES)
def test_a_broken_file_gives_one_clear_problem(text, line, key, message, hint):
    with pytest.raises(ConfigError) as err:
        load_config("bad.yaml", text=text)
    (problem,) = err.value.problems
    assert (problem.file, problem.line, problem.key) == ("bad.yaml", line, key), problem
    assert message in problem.message and hint in problem.hint, problem


@pytest.mark.parametrize("text, line, key, message, hint", BROKEN)
def test_check_config_reports_a_broken_file_in_one_line_and_exits_78(tmp_path, capsys, text, line, key,
                                                                    message, hint):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    assert main(["check-config", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    head, problem = err.splitlines()
    assert head == "voiced: 1 config error:" and problem.startswith(f"  {path}:{line}: "), err
    assert message in problem and hint in problem, err


def test_check_config_command_on_a_latin1_file(tmp_path):
    path = tmp_path / "voiced.yaml"
    path.write_bytes(b"# caf\xe9\nsite_id: kitchen\nvad:\n  threshold: .nan\n")
    run = subprocess.run([sys.executable, "-m", "voiced", "check-config", "--config", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == EXIT_CONFIG
    assert run.stderr.splitlines() == [
        "voiced: 1 config error:",
        f"  {path}:1: byte 0xe9 (column 6) is not UTF-8 text (hint: save the file as UTF-8)"]


def test_a_directory_or_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    secret = tmp_path / "secret.yaml"
    secret.write_text("site_id: x\n")
    secret.chmod(0)
    try:
        if os.access(secret, os.R_OK):  # root reads anything
            pytest.skip("running as a user who can read any file")
        with pytest.raises(ConfigError, match="cannot read config: Permission denied"):
            load_config(secret)
    finally:
        secret.chmod(0o600)


def test_inf_is_accepted_only_where_the_setting_allows_it():
    cfg = load_config(text="rescoring:\n  neighbours_gap: .inf\n")
    assert cfg.rescoring.neighbours_gap == math.inf
    field = {f.name: f for f in dataclasses.fields(RescoringConfig)}["neighbours_gap"]
    assert field.metadata["allow_inf"] and ".inf" in field.metadata["doc"]
    # also where the setting has a largest finite value: .inf means "no limit", not out of range
    cfg = load_config(text="rescoring:\n  constrained_words_ratio: .inf\n")
    assert cfg.rescoring.constrained_words_ratio == math.inf
    with pytest.raises(ConfigError, match="out of range"):
        load_config(text="rescoring:\n  constrained_words_ratio: 101\n")


def test_topic_parts_that_are_fine():
    cfg = load_config(text="site_id: kitchen_left\nmqtt:\n  topic_prefix: home/voiced\n"
                           "  discovery_prefix: ha\n  client_id: satellite-1\n")
    assert (cfg.site_id, cfg.mqtt.topic_prefix, cfg.mqtt.discovery_prefix) == ("kitchen_left", "home/voiced", "ha")



# --- rules between settings: reported with every other problem, at the later key's line ----------


def test_rules_are_reported_together_with_other_problems_in_line_order():
    text = ("vad:\n"
            "  threshold: 0.3\n"
            "  min_speech_ms: -1\n"
            "audio:\n"
            "  source: file\n"
            "mqtt:\n"
            "  port: 0\n")
    with pytest.raises(ConfigError) as err:
        load_config("bad.yaml", text=text)
    assert [(p.line, p.key) for p in err.value.problems] == [
        (2, "vad.threshold"), (3, "vad.min_speech_ms"), (5, "audio.source"), (7, "mqtt.port")]


def test_a_rule_is_not_checked_on_a_setting_that_is_already_wrong():
    # the wrong neg_threshold's default (0.35) must not be blamed on threshold 0.3
    with pytest.raises(ConfigError) as err:
        load_config(text="vad:\n  threshold: 0.3\n  neg_threshold: high\n")
    assert [p.key for p in err.value.problems] == ["vad.neg_threshold"]


WARNINGS = [
    ("vad:\n  min_silence_ms: 300\n  post_pad_ms: 300\n", 3, "vad.post_pad_ms", "no head start"),
    ("vad:\n  post_pad_ms: 490\n", 2, "vad.post_pad_ms", "no head start"),  # 16 chunks of 32 ms, like 500
    ("model:\n  affinity: [2]\n  intra_op_threads: 3\n", 3, "model.intra_op_threads", "nothing is pinned"),
    ("model:\n  intra_op_threads: 1\n  affinity: [2]\n", 3, "model.affinity", "no effect"),
    ("mqtt:\n  tls:\n    insecure: true\n", 3, "mqtt.tls.insecure", "no effect"),
]


@pytest.mark.parametrize("text, line, key, message", WARNINGS)
def test_a_config_that_works_but_not_as_meant_loads_with_a_logged_warning(caplog, text, line, key, message):
    config = load_config("odd.yaml", text=text)
    (warning,) = config.warnings
    assert (warning.file, warning.line, warning.key) == ("odd.yaml", line, key) and message in warning.message
    assert str(warning) in caplog.text
    assert config == dataclasses.replace(config, warnings=[])  # warnings take no part in ==


def test_no_head_start_is_fine_without_speculation():
    assert load_config(text="speculative: false\nvad:\n  post_pad_ms: 500\n").warnings == []


def test_the_defaults_and_the_example_break_no_rule():
    assert check_rules(Config(), {}, None) == ([], [])
    assert load_config(REPO / "config" / "voiced.yaml").warnings == []



def test_validate_checks_the_config_after_command_line_overrides():
    config = load_config("voiced.yaml", text="site_id: k\naudio:\n  source: mic\n")
    broken = dataclasses.replace(config, audio=dataclasses.replace(config.audio, source="file"))
    with pytest.raises(ConfigError) as err:
        validate(broken)
    (problem,) = err.value.problems
    assert (problem.file, problem.line, problem.key) == ("voiced.yaml", 3, "audio.source")
    fixed = dataclasses.replace(broken, audio=dataclasses.replace(broken.audio, file="/tmp/x.wav"))
    assert validate(fixed) is fixed


def test_run_fails_on_a_file_source_without_a_file_before_loading_models(tmp_path, capsys):
    path = tmp_path / "voiced.yaml"
    path.write_text("audio:\n  source: file\nmqtt:\n  enabled: false\n")
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    assert f"{path}:2: audio.source: source is file, but no audio.file is given" in capsys.readouterr().err





def test_run_checks_the_rules_after_its_options_before_loading_models(tmp_path, capsys):
    # channel 1 is fine for a microphone of unknown channels, but --stdin reads mono PCM
    path = tmp_path / "voiced.yaml"
    path.write_text("audio:\n  channel: 1\nmqtt:\n  enabled: false\n")
    assert main(["run", "--config", str(path), "--stdin"]) == EXIT_CONFIG
    assert f"{path}:2: audio.channel: channel 1 does not exist in 1 channel(s)" in capsys.readouterr().err


def test_run_fails_on_a_missing_wav_before_loading_models(tmp_path, capsys):
    path = tmp_path / "voiced.yaml"
    path.write_text("audio:\n  source: file\n  file: missing.wav\nmqtt:\n  enabled: false\n")
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    assert f"{path}:3: audio.file: cannot read audio.file {tmp_path / 'missing.wav'}: no such file" \
        in capsys.readouterr().err
    assert main(["run", "--config", str(path), "--file", str(tmp_path / "other.wav")]) == EXIT_CONFIG
    assert "--file: cannot read" in capsys.readouterr().err
