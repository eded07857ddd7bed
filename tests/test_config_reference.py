"""The README's configuration reference, generated from the schema."""
from __future__ import annotations

from pathlib import Path

from voiced.config_reference import reference
from voiced.config_rules import RULES

REPO = Path(__file__).resolve().parent.parent


def test_reference_lists_every_leaf_setting():
    table = reference()
    for key in ("site_id", "vad.threshold", "mqtt.tls.ca_certs", "model.intra_op_threads", "grammar.paths"):
        assert f"| `{key}` |" in table


def test_readme_reference_matches_the_schema():
    """The README's reference is generated from the schema; regenerate it with
    `python -m voiced.config_reference README.md` after changing a setting."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- section:config-reference -->") + len("<!-- section:config-reference -->")
    end = readme.index("<!-- /section:config-reference -->")
    assert readme[start:end].strip() == reference().strip()


def test_the_reference_states_the_topic_rules():
    table = reference()
    assert "| `site_id` | `default` | restart | name of this satellite; in every topic and payload (one MQTT topic " \
           "level" in table
    assert "no '+', '#', control characters or empty levels" in table.split("`mqtt.topic_prefix`")[1].split("\n")[0]


def test_the_reference_lists_every_rule_between_settings():
    table = reference().split("| settings | rule | if broken |")[1]
    for rule in RULES:
        keys = ", ".join(f"`{k}`" for k in rule.keys)
        assert f"| {keys} | {rule.doc} | {'warning' if rule.warning else 'error'} |" in table
    assert "| `vad.threshold`, `vad.neg_threshold` | neg_threshold is at most threshold | error |" in table


def test_every_setting_a_reload_cannot_apply_is_marked_restart_in_the_reference():
    settings = reference().split("\n\n")[0].splitlines()[2:]
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")[2] for line in settings}
    restart = {key for key, reload in rows.items() if reload == "restart"}
    assert set(rows.values()) == {"live", "restart"}
    assert {"site_id", "speculative", "audio.source", "vad.threshold", "model.path", "mqtt.tls.ca_certs"} <= restart
    assert not restart & {"grammar.paths", "grammar.threshold", "rescoring.mode", "debug.recordings_dir",
                          "logging.level"}
    assert reference().splitlines()[0] == "| key | default | reload | meaning |"
