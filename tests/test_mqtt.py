"""MqttLink and Publisher against a real mosquitto on loopback."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import replace
from typing import List

import paho.mqtt.client as mqtt
import pytest
from mqtt_support import Subscriber, make_tls_files, wait_until

from voiced.config import MqttConfig, TlsConfig
from voiced.errors import BrokerError
from voiced.mqtt.link import MqttLink

pytestmark = pytest.mark.timeout(120)


def link_for(broker, **overrides) -> MqttLink:
    cfg = replace(MqttConfig(), host=broker.host, port=broker.port, reconnect_max_s=1, keepalive_s=5, **overrides)
    return MqttLink(cfg, client_id="voiced-test", status_topic="voiced/test/status")


def first_occurrences(items: List[str]) -> List[str]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def test_publish_status_and_graceful_offline(mosquitto):
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    link = link_for(mosquitto)
    link.start()
    assert link.wait_connected(10)
    link.publish("voiced/test/intent/Hello", '{"n": 1}')
    assert wait_until(lambda: sub.payloads("voiced/test/intent/Hello") == ['{"n": 1}'])
    assert link.flush(5) and link.pending() == 0
    link.close()
    assert wait_until(lambda: sub.payloads("voiced/test/status") == ["online", "offline"])
    sub.close()
    # The last status stays retained for late subscribers.
    late = Subscriber(mosquitto, ["voiced/test/status"], client_id="late")
    assert wait_until(lambda: late.messages == [("voiced/test/status", "offline", True)])
    late.close()


def test_last_will_offline_when_the_process_dies(mosquitto):
    sub = Subscriber(mosquitto, ["voiced/test/status"])
    script = (
        "import sys, time\n"
        "from dataclasses import replace\n"
        "from voiced.config import MqttConfig\n"
        "from voiced.mqtt.link import MqttLink\n"
        f"cfg = replace(MqttConfig(), host='{mosquitto.host}', port={mosquitto.port})\n"
        "link = MqttLink(cfg, client_id='voiced-will', status_topic='voiced/test/status')\n"
        "link.start()\n"
        "assert link.wait_connected(10)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert wait_until(lambda: sub.payloads("voiced/test/status") == ["online"])
        proc.kill()  # no clean disconnect: only the broker's Last Will can say offline
        assert wait_until(lambda: sub.payloads("voiced/test/status") == ["online", "offline"])
    finally:
        proc.kill()
        proc.wait()
        sub.close()


def test_broker_down_at_start_then_up_delivers_everything_in_order(mosquitto_factory):
    broker = mosquitto_factory(persistence=True)
    # Register a persistent subscriber session, so the broker keeps its messages across restarts.
    Subscriber(broker, ["voiced/test/intent/#"], client_id="keeper", persistent=True).close()
    broker.stop()
    link = link_for(broker)
    link.start(wait_s=1)
    assert not link.connected
    expected = [json.dumps({"n": i}) for i in range(50)]
    for payload in expected:
        link.publish("voiced/test/intent/Count", payload)
    assert link.pending() == 50
    broker.start()
    sub = Subscriber(broker, ["voiced/test/intent/#"], client_id="keeper", persistent=True)
    try:
        assert wait_until(lambda: set(sub.payloads("voiced/test/intent/Count")) >= set(expected), 30)
        assert first_occurrences(sub.payloads("voiced/test/intent/Count")) == expected
        assert link.flush(10)
    finally:
        sub.close()
        link.close()


def test_broker_restart_with_100_in_flight_loses_nothing(mosquitto_factory):
    broker = mosquitto_factory(persistence=True)
    sub = Subscriber(broker, ["voiced/test/intent/#"], client_id="keeper", persistent=True)
    link = link_for(broker)
    link.start()
    assert link.wait_connected(10)
    expected = [json.dumps({"n": i}) for i in range(100)]
    for payload in expected:
        link.publish("voiced/test/intent/Count", payload)
    broker.restart()  # most of the 100 are still unacknowledged at this point
    for i in range(100, 120):  # and more arrive while it is down or coming back
        expected.append(json.dumps({"n": i}))
        link.publish("voiced/test/intent/Count", expected[-1])
    try:
        assert wait_until(lambda: set(sub.payloads("voiced/test/intent/Count")) >= set(expected), 40), \
            f"lost {len(set(expected) - set(sub.payloads('voiced/test/intent/Count')))}"
        assert first_occurrences(sub.payloads("voiced/test/intent/Count")) == expected
        assert link.flush(10) and link.dropped == 0
    finally:
        sub.close()
        link.close()


def test_full_outbox_drops_the_oldest_and_counts(mosquitto_factory, caplog):
    broker = mosquitto_factory()
    sub = Subscriber(broker, ["voiced/test/#"])
    sub.close()
    broker.stop()
    link = link_for(broker, queue_size=10)
    link.start(wait_s=0.5)
    for i in range(25):
        link.publish("voiced/test/intent/Count", str(i))
    assert link.dropped == 15 and link.pending() == 10
    assert "dropped the oldest" in caplog.text
    broker.start()
    sub = Subscriber(broker, ["voiced/test/intent/#"])
    try:
        # The subscriber may come up after some were delivered; what it sees must be the newest, in order.
        assert link.flush(20)
        got = sub.payloads("voiced/test/intent/Count")
        assert got == [str(i) for i in range(25 - len(got), 25)]
    finally:
        sub.close()
        link.close()


def test_a_failing_handler_does_not_kill_the_network_thread(mosquitto):
    link = link_for(mosquitto)
    calls = []

    def handler(topic: str, payload: bytes) -> None:
        calls.append(payload)
        raise ValueError("handler bug")

    link.subscribe("voiced/test/poke", handler)
    link.start()
    assert link.wait_connected(10)
    sub = Subscriber(mosquitto, ["voiced/test/after"])
    try:
        for _ in range(3):
            sub.client.publish("voiced/test/poke", "x", qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(calls) == 3)
        assert link.alive()
        link.publish("voiced/test/after", "still here")
        assert wait_until(lambda: sub.payloads("voiced/test/after") == ["still here"])
    finally:
        sub.close()
        link.close()
    assert not link.alive()


def test_subscriptions_are_restored_after_a_broker_restart(mosquitto):
    link = link_for(mosquitto)
    got = []
    link.subscribe("voiced/test/listen/set", lambda topic, payload: got.append(payload))
    link.start()
    assert link.wait_connected(10)
    mosquitto.restart()
    assert wait_until(lambda: link.connected, 20)
    poke = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="poke")
    poke.connect(mosquitto.host, mosquitto.port)
    poke.loop_start()
    try:
        assert wait_until(lambda: (poke.publish("voiced/test/listen/set", "off", qos=1) and False) or got, 10)
        assert got[0] == b"off"
    finally:
        poke.disconnect()
        poke.loop_stop()
        link.close()


# --- TLS and passwords --------------------------------------------------------------------

@pytest.fixture
def secure_broker(mosquitto_factory, tmp_path):
    tls = make_tls_files(tmp_path)
    broker = mosquitto_factory(users={"satellite": "s3cret"}, tls=tls)
    return broker, tls


def test_tls_with_the_right_password_works(secure_broker, tmp_path):
    broker, tls = secure_broker
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n")
    from voiced.mqtt.link import read_password

    cfg = replace(MqttConfig(), host="127.0.0.1", port=broker.port, username="satellite",
                  password_file=str(password_file), tls=TlsConfig(ca_certs=str(tls["ca"])))
    password = read_password(cfg, lambda p: p)
    assert password == "s3cret"
    link = MqttLink(cfg, "voiced-tls", "voiced/test/status", password=password, tls_paths={"ca_certs": str(tls["ca"])})
    link.start()
    try:
        assert link.wait_connected(10)
        link.publish("voiced/test/intent/Secure", "ok")
        assert link.flush(10)
    finally:
        link.close()


def test_tls_with_a_wrong_password_is_a_clear_error(secure_broker):
    broker, tls = secure_broker
    cfg = replace(MqttConfig(), host="127.0.0.1", port=broker.port, username="satellite", password="wrong")
    link = MqttLink(cfg, "voiced-tls", "voiced/test/status", password="wrong",
                    tls_paths={"ca_certs": str(tls["ca"])})
    with pytest.raises(BrokerError, match="refused.*(password|authori)"):
        link.start()
    assert not link.alive()


def test_tls_with_an_untrusted_certificate_is_a_clear_error(secure_broker, tmp_path):
    broker, _ = secure_broker
    other = tmp_path / "other"
    other.mkdir()
    other_ca = make_tls_files(other)["ca"]
    cfg = replace(MqttConfig(), host="127.0.0.1", port=broker.port, username="satellite")
    link = MqttLink(cfg, "voiced-tls", "voiced/test/status", password="s3cret", tls_paths={"ca_certs": str(other_ca)})
    with pytest.raises(BrokerError, match="TLS"):
        link.start()


def test_missing_ca_file_is_a_clear_error(tmp_path):
    cfg = MqttConfig()
    with pytest.raises(BrokerError, match="TLS files"):
        MqttLink(cfg, "x", "voiced/test/status", tls_paths={"ca_certs": str(tmp_path / "nope.crt")})


# --- Publisher: what goes where -----------------------------------------------------------

GRAMMAR = """
lists:
  area:
    values:
      - kitchen
      - in: living room
        out: living_room
intents:
  LightOn:
    data:
      - sentences: ["turn on the {area} light"]
    action:
      topic: "zigbee2mqtt/{area}_light/set"
      payload: {"state": "ON"}
  TimeGet:
    data:
      - sentences: ["what time is it"]
"""


@pytest.fixture
def publisher_setup(mosquitto):
    from voiced.grammar.loader import load_grammar_text
    from voiced.grammar.matcher import Matcher
    from voiced.mqtt.payloads import Topics
    from voiced.mqtt.publisher import Publisher

    grammar = load_grammar_text(GRAMMAR)
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port, hermes=True, ha_discovery=True,
                  publish_transcript=True)
    link = MqttLink(cfg, "voiced-pub", "voiced/test/status")
    listen_calls: List[bool] = []
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test", on_listen=listen_calls.append)
    publisher.announce(grammar)
    sub = Subscriber(mosquitto, ["#"])
    link.start()
    assert link.wait_connected(10)
    yield publisher, Matcher(grammar), sub, listen_calls, grammar
    sub.close()
    link.close()


def json_of(sub: Subscriber, topic: str) -> dict:
    assert wait_until(lambda: sub.payloads(topic), 10), f"nothing on {topic}: {sub.messages}"
    return json.loads(sub.payloads(topic)[-1])


def test_recognized_intent_goes_to_every_configured_topic(publisher_setup):
    from voiced.mqtt.payloads import Utterance

    publisher, matcher, sub, _, grammar = publisher_setup
    result = matcher.match("turn on the living room light")
    assert result.recognized
    utt = Utterance(id="u1", text=result.text, start_s=1.0, end_s=2.5, latency_ms={"total": 120.0})
    sent = publisher.publish(utt, result, grammar)
    assert sent == ["voiced/test/transcript", "hermes/asr/textCaptured", "voiced/test/intent/LightOn",
                    "hermes/intent/LightOn", "voiced/test/event", "zigbee2mqtt/living_room_light/set"]

    own = json_of(sub, "voiced/test/intent/LightOn")
    assert own["intent"] == "LightOn" and own["site_id"] == "test" and own["utterance_id"] == "u1"
    assert own["slots"]["area"]["value"] == "living_room" and own["slots"]["area"]["raw"] == "living room"
    assert (own["start_s"], own["end_s"], own["latency_ms"]["total"]) == (1.0, 2.5, 120.0)

    hermes = json_of(sub, "hermes/intent/LightOn")
    assert hermes["input"] == result.text and hermes["siteId"] == "test" and hermes["sessionId"] == "u1"
    assert hermes["intent"] == {"intentName": "LightOn", "confidenceScore": round(result.confidence, 3)}
    (slot,) = hermes["slots"]
    assert (slot["slotName"], slot["entity"], slot["rawValue"], slot["value"]["value"]) == \
        ("area", "area", "living room", "living_room")
    assert result.text[slot["range"]["start"]:slot["range"]["end"]] == "living room"

    assert json_of(sub, "hermes/asr/textCaptured")["text"] == result.text
    assert json_of(sub, "voiced/test/event")["event_type"] == "LightOn"
    assert json_of(sub, "zigbee2mqtt/living_room_light/set") == {"state": "ON"}


def test_not_recognized_carries_the_best_guesses(publisher_setup):
    from voiced.mqtt.payloads import Utterance

    publisher, matcher, sub, _, grammar = publisher_setup
    result = matcher.match("turn on kitchen")  # close to LightOn, but below the threshold
    assert not result.recognized
    publisher.publish(Utterance(id="u2", text=result.text, start_s=0.0, end_s=1.0), result, grammar)
    message = json_of(sub, "voiced/test/not_recognized")
    assert message["text"] == "turn on kitchen" and message["utterance_id"] == "u2"
    (guess,) = message["guesses"]
    assert guess["intent"] == "LightOn" and 0 < guess["confidence"] < 0.72
    assert guess["slots"]["area"]["value"] == "kitchen"
    assert json_of(sub, "hermes/nlu/intentNotRecognized")["input"] == "turn on kitchen"
    assert not sub.payloads("voiced/test/intent/LightOn")


def test_home_assistant_discovery_is_resent_when_home_assistant_comes_online(publisher_setup):
    publisher, _, sub, _, _ = publisher_setup
    topic = "homeassistant/event/voiced_test/intent/config"
    config = json_of(sub, topic)
    assert config["event_types"] == ["LightOn", "TimeGet", "not_recognized"]
    assert config["availability_topic"] == "voiced/test/status" and config["state_topic"] == "voiced/test/event"
    count = len(sub.payloads(topic))
    sub.client.publish("homeassistant/status", "online", qos=1)
    assert wait_until(lambda: len(sub.payloads(topic)) == count + 1, 10)


def test_listen_set_switches_listening_and_keeps_a_retained_state(publisher_setup, mosquitto):
    publisher, _, sub, calls, _ = publisher_setup
    assert wait_until(lambda: sub.payloads("voiced/test/listen") == ["on"], 10)
    sub.client.publish("voiced/test/listen/set", "OFF", qos=1)
    assert wait_until(lambda: calls == [False], 10)
    assert wait_until(lambda: sub.payloads("voiced/test/listen")[-1:] == ["off"], 10)
    assert publisher.listening is False
    sub.client.publish("voiced/test/listen/set", "banana", qos=1)  # ignored with a warning
    sub.client.publish("voiced/test/listen/set", "on", qos=1)
    assert wait_until(lambda: calls == [False, True], 10)
    late = Subscriber(mosquitto, ["voiced/test/listen"], client_id="late")
    assert wait_until(lambda: late.messages == [("voiced/test/listen", "on", True)], 10)
    late.close()


# --- a message that cannot be sent must not stop the others -----------------------------------

def test_a_bad_topic_is_refused_and_later_messages_still_arrive(mosquitto, caplog):
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    link = link_for(mosquitto)
    link.start()
    assert link.wait_connected(10)
    try:
        for bad in ("notify/Tell everyone: 1+1=2!", "voiced/test/#", "a/\x00", "x/\ud800", ""):
            assert link.publish(bad, "poison") is False
        link.publish_now("voiced/test/#", "poison")
        link.publish("voiced/test/after", "still here")
        assert wait_until(lambda: sub.payloads("voiced/test/after") == ["still here"])
        # the subscriber can have a message before the broker's PUBACK reaches the link
        assert link.alive() and link.connected and link.flush(10)
        assert caplog.text.count("refusing to publish to topic") == 6
    finally:
        sub.close()
        link.close()


def test_a_bad_topic_while_the_broker_is_down_does_not_stop_the_reconnect(mosquitto_factory):
    broker = mosquitto_factory()
    broker.stop()
    link = link_for(broker)
    link.start(wait_s=0.5)
    link.publish("voiced/test/before", "1")
    link.publish("living_room/#", "poison")
    link.publish("voiced/test/before", "2")
    assert link.pending() == 2
    broker.start()
    sub = Subscriber(broker, ["voiced/test/#"])
    try:
        assert link.wait_connected(20)
        assert link.flush(10)
        link.publish("voiced/test/after", "3")
        assert wait_until(lambda: sub.payloads("voiced/test/after") == ["3"])
    finally:
        sub.close()
        link.close()


def test_a_bad_entry_replayed_from_an_old_journal_does_not_stop_the_others(mosquitto_factory, tmp_path):
    from voiced.mqtt.journal import HEADER, Journal

    broker = mosquitto_factory()
    broker.stop()
    # Written by hand, as a journal from before topics were checked could hold it.
    path = tmp_path / "outbox.jsonl"
    lines = [json.dumps({"seq": i, "topic": topic, "payload": str(i), "retain": False})
             for i, topic in enumerate(["voiced/test/a", "voiced/test/#", "voiced/test/b"], 1)]
    path.write_text(HEADER.decode() + "\n".join(lines) + "\n")
    journal = Journal(path, limit=100)
    cfg = replace(MqttConfig(), host=broker.host, port=broker.port, reconnect_max_s=1, keepalive_s=5)
    link = MqttLink(cfg, client_id="voiced-test", status_topic="voiced/test/status", journal=journal)
    assert link.pending() == 3
    link.start(wait_s=0.5)
    broker.start()
    sub = Subscriber(broker, ["voiced/test/#"])
    try:
        assert link.wait_connected(20)  # the bad entry neither raises nor keeps `connected` unset
        assert link.flush(10)
        link.publish("voiced/test/c", "4")
        assert wait_until(lambda: [p for t, p, _ in sub.messages if t != "voiced/test/status"][-1:] == ["4"])
        assert path.read_bytes() == HEADER  # the bad one is dropped, the others acknowledged
    finally:
        sub.close()
        link.close()


def test_close_with_the_broker_down_says_what_stays_in_the_journal(mosquitto_factory, tmp_path, caplog):
    from voiced.mqtt.journal import Journal

    broker = mosquitto_factory()
    broker.stop()
    journal = Journal(tmp_path / "outbox.jsonl", limit=100)
    cfg = replace(MqttConfig(), host=broker.host, port=broker.port, reconnect_max_s=1)
    link = MqttLink(cfg, client_id="voiced-test", status_topic="voiced/test/status", journal=journal)
    link.start(wait_s=0.5)
    link.publish_many([("voiced/test/intent/A", "1", False), ("voiced/test/intent/B", "2", False)])
    link.close(wait_s=0.5)
    assert "2 MQTT messages not acknowledged at shutdown stay in the journal" in caplog.text
    assert str(tmp_path / "outbox.jsonl") in caplog.text
    assert [r.topic for r in Journal(tmp_path / "outbox.jsonl", limit=100).pending()] == \
        ["voiced/test/intent/A", "voiced/test/intent/B"]


def test_without_a_broker_nothing_is_journaled(tmp_path, capsys):
    from voiced.config import Config
    from voiced.mqtt.publisher import open_link

    config = Config(site_id="test", mqtt=replace(MqttConfig(), enabled=False, state_dir=str(tmp_path / "state")))
    link = open_link(config)
    link.start()
    link.publish("voiced/test/intent/A", "{}")
    link.close()
    assert capsys.readouterr().out == "voiced/test/intent/A {}\n"
    assert not (tmp_path / "state").exists()


# --- start-up errors that say what to change ----------------------------------------------------

@pytest.mark.parametrize("key", ["ca_certs", "certfile", "keyfile"])
def test_a_missing_tls_file_is_a_config_error_naming_it(tmp_path, key):
    from voiced.config import Config
    from voiced.errors import ConfigError
    from voiced.mqtt.publisher import open_link

    tls = make_tls_files(tmp_path)
    files = {"ca_certs": str(tls["ca"]), "certfile": str(tls["cert"]), "keyfile": str(tls["key"])}
    files[key] = str(tmp_path / "missing.pem")
    config = Config(mqtt=replace(MqttConfig(), tls=TlsConfig(**files)), source_path=str(tmp_path / "voiced.yaml"))
    with pytest.raises(ConfigError) as info:
        open_link(config)
    (problem,) = info.value.problems
    assert problem.key == f"mqtt.tls.{key}" and str(tmp_path / "missing.pem") in problem.message
    assert problem.file == str(tmp_path / "voiced.yaml")


def test_a_plain_client_on_a_tls_port_gets_a_hint(secure_broker, caplog):
    broker, _ = secure_broker
    link = link_for(broker)
    link.start(wait_s=1)
    try:
        assert wait_until(lambda: "may expect TLS" in caplog.text, 30), caplog.text
        assert "mqtt.tls.ca_certs" in caplog.text and not link.connected
        assert caplog.text.count("may expect TLS") == 1
    finally:
        link.close(wait_s=0)


def test_a_tls_client_on_a_plain_port_gets_a_hint(mosquitto, tmp_path, caplog):
    tls = make_tls_files(tmp_path)
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port, reconnect_max_s=1)
    link = MqttLink(cfg, "voiced-tls", "voiced/test/status", tls_paths={"ca_certs": str(tls["ca"])})
    try:
        link.start(wait_s=1)
    except BrokerError as exc:  # the handshake may fail at once, with its own hint
        assert "TLS" in str(exc) and "mqtt.tls.ca_certs" in str(exc)
        return
    try:
        assert wait_until(lambda: "may not speak TLS" in caplog.text, 30), caplog.text
    finally:
        link.close(wait_s=0)


def test_a_wrong_password_for_a_broker_that_comes_later_is_one_error(mosquitto_factory, caplog):
    broker = mosquitto_factory(users={"satellite": "s3cret"})
    broker.stop()
    cfg = replace(MqttConfig(), host=broker.host, port=broker.port, reconnect_max_s=1, username="satellite")
    link = MqttLink(cfg, "voiced-pw", "voiced/test/status", password="wrong")
    link.start(wait_s=0.5)
    broker.start()
    try:
        assert wait_until(lambda: broker.log.read_text().count("not authorised") >= 3, 30), broker.log.read_text()
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and "refused" in r.getMessage()]
        assert len(errors) == 1 and "mqtt.password" in errors[0].getMessage()
        assert "still retrying" in errors[0].getMessage() and link.alive() and not link.connected
    finally:
        link.close(wait_s=0)


# --- Home Assistant discovery: coalesced --------------------------------------------------------

def test_a_flood_of_home_assistant_online_gets_a_handful_of_announcements(publisher_setup):
    _, _, sub, _, _ = publisher_setup
    topic = "homeassistant/event/voiced_test/intent/config"
    assert wait_until(lambda: len(sub.payloads(topic)) == 1, 10)
    for _ in range(500):
        sub.client.publish("homeassistant/status", "online", qos=0)
    time.sleep(3.0)  # the flood, plus the trailing announcement a second later
    count = len(sub.payloads(topic))
    assert 2 <= count <= 5, count  # at least the trailing one after the burst, at most one a second


def test_an_action_with_an_unsendable_topic_is_refused_and_the_intent_still_published(mosquitto, tmp_path,
                                                                                        caplog):
    from voiced.grammar.loader import load_grammar
    from voiced.grammar.matcher import Matcher
    from voiced.mqtt.payloads import Topics, Utterance
    from voiced.mqtt.publisher import Publisher

    # The list is in a later file, so only rendering can see its value.
    (tmp_path / "a.yaml").write_text(GRAMMAR.split("lists:")[0] + "intents:" + GRAMMAR.split("intents:")[1])
    (tmp_path / "b.yaml").write_text('lists:\n  area: {values: [kitchen, {in: living room, out: "living_room/#"}]}\n')
    grammar = load_grammar([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port)
    link = MqttLink(cfg, "voiced-pub", "voiced/test/status")
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test")
    publisher.announce(grammar)
    sub = Subscriber(mosquitto, ["#"])
    link.start()
    assert link.wait_connected(10)
    matcher = Matcher(grammar)
    try:
        for i, text in enumerate(["turn on the living room light", "turn on the kitchen light"]):
            result = matcher.match(text)
            assert result.recognized
            publisher.publish(Utterance(id=f"u{i}", text=text, start_s=0.0, end_s=1.0), result, grammar)
        assert wait_until(lambda: len(sub.payloads("voiced/test/intent/LightOn")) == 2, 10)
        assert wait_until(lambda: sub.payloads("zigbee2mqtt/kitchen_light/set") == ['{"state": "ON"}'], 10)
        (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert "LightOn" in line and "zigbee2mqtt/{area}_light/set" in line and "living_room/#" in line
        assert link.alive() and link.flush(10)  # every message acknowledged, none left queued
    finally:
        sub.close()
        link.close()


# --- an action's QoS ----------------------------------------------------------------------------

QOS_GRAMMAR = """
intents:
  BellRing:
    data:
      - sentences: ["ring the bell"]
    action:
      - {topic: "device/qos0", payload: "a"}
      - {topic: "device/qos1", payload: "b", qos: 1}
      - {topic: "device/qos2", payload: "c", qos: 2}
"""


def test_each_action_reaches_the_broker_at_its_own_qos_and_the_intent_at_qos_1(mosquitto):
    from voiced.grammar.loader import load_grammar_text
    from voiced.grammar.matcher import Matcher
    from voiced.mqtt.payloads import Topics, Utterance
    from voiced.mqtt.publisher import Publisher

    grammar = load_grammar_text(QOS_GRAMMAR)
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port)
    link = MqttLink(cfg, "voiced-pub", "voiced/test/status")
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test")
    sub = Subscriber(mosquitto, ["device/#", "voiced/test/intent/#"], qos=2)  # delivers min(sent, 2)
    link.start()
    assert link.wait_connected(10)
    try:
        result = Matcher(grammar).match("ring the bell")
        publisher.publish(Utterance(id="u1", text="ring the bell", start_s=0.0, end_s=1.0), result, grammar)
        assert wait_until(lambda: len(sub.qos) == 4, 10), sub.messages
        assert sorted(sub.qos) == [("device/qos0", 0), ("device/qos1", 1), ("device/qos2", 2),
                                   ("voiced/test/intent/BellRing", 1)]
        assert link.flush(5)  # the QoS 0 one left the outbox once written, with nothing to acknowledge
    finally:
        sub.close()
        link.close()


def test_a_qos_0_message_waits_in_the_journal_for_the_broker_and_goes_out_once_at_qos_0(mosquitto_factory,
                                                                                          tmp_path):
    from voiced.mqtt.journal import HEADER, Journal

    broker = mosquitto_factory()
    broker.stop()
    path = tmp_path / "outbox.jsonl"
    cfg = replace(MqttConfig(), host=broker.host, port=broker.port, reconnect_max_s=1, keepalive_s=5)
    link = MqttLink(cfg, client_id="voiced-test", status_topic="voiced/test/status",
                    journal=Journal(path, limit=100))
    link.publish_many([("voiced/test/fire", "0", False, 0), ("voiced/test/sure", "1", False)])
    assert link.pending() == 2 and '"qos": 0' in path.read_text()
    broker.start()
    sub = Subscriber(broker, ["voiced/test/fire", "voiced/test/sure"], qos=2)
    link.start()  # the broker was away until now: both go out from the outbox on connect
    try:
        assert link.wait_connected(20)
        assert link.flush(10)
        link.publish("voiced/test/sure", "2")  # after the resend, so it shows nothing more comes
        assert wait_until(lambda: sub.payloads("voiced/test/sure") == ["1", "2"], 10)
        assert [(t, p, q) for (t, p, _), (_, q) in zip(sub.messages, sub.qos)] == [
            ("voiced/test/fire", "0", 0), ("voiced/test/sure", "1", 1), ("voiced/test/sure", "2", 1)]
        assert path.read_bytes() == HEADER
    finally:
        sub.close()
        link.close()
