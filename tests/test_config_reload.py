"""What a reload (SIGHUP) applies: the schema says which settings it cannot."""
from __future__ import annotations

from voiced.config import load_config
from voiced.config_reload import reloaded, restart_needed


def test_restart_needed_lists_the_changed_settings_a_reload_cannot_apply():
    old = load_config(text="vad:\n  threshold: 0.5\n")
    new = load_config(text="site_id: hall\nspeculative: false\nvad:\n  threshold: 0.6\nmqtt:\n  tls:\n"
                           "    insecure: true\n    ca_certs: ca.pem\ngrammar:\n  threshold: 0.8\n"
                           "logging:\n  level: DEBUG\n")
    assert restart_needed(old, new) == ["site_id", "speculative", "vad.threshold", "mqtt.tls.ca_certs",
                                        "mqtt.tls.insecure"]
    assert restart_needed(old, old) == []


def test_a_reload_keeps_the_running_values_of_the_settings_it_cannot_apply():
    old = load_config(text="site_id: kitchen\nmqtt:\n  port: 1884\n")
    new = load_config("new.yaml", text="site_id: hall\nmqtt:\n  port: 1885\n  tls:\n    ca_certs: ca.pem\n"
                                       "grammar:\n  threshold: 0.8\nrescoring:\n  mode: always\n")
    config = reloaded(old, new)
    assert (config.site_id, config.mqtt, config.vad) == ("kitchen", old.mqtt, old.vad)
    assert (config.grammar.threshold, config.rescoring.mode, config.source_path) == (0.8, "always", "new.yaml")
    assert restart_needed(old, config) == []
