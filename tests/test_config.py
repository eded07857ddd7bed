"""The config schema: defaults, validation that reports every problem with file, line and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from voiced.config import Config, load_config, reference
from voiced.errors import ConfigError

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


def test_reference_lists_every_leaf_setting():
    table = reference()
    for key in ("site_id", "vad.threshold", "mqtt.tls.ca_certs", "model.intra_op_threads", "grammar.paths"):
        assert f"| `{key}` |" in table


def test_readme_reference_matches_the_schema():
    """The README's reference is generated from the schema; regenerate it with
    `python -m voiced.config README.md` after changing a setting."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- section:config-reference -->") + len("<!-- section:config-reference -->")
    end = readme.index("<!-- /section:config-reference -->")
    assert readme[start:end].strip() == reference().strip()
