"""MqttLink and Publisher against a real mosquitto on loopback."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import List

import paho.mqtt.client as mqtt
import pytest
from mqtt_support import Subscriber, make_tls_files, wait_until

from voiced.config import MqttConfig, TlsConfig
from voiced.errors import BrokerError
from voiced.mqtt import MqttLink

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
        "from voiced.mqtt import MqttLink\n"
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
    from voiced.mqtt import read_password

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
    from voiced.payloads import Topics
    from voiced.publisher import Publisher

    grammar = load_grammar_text(GRAMMAR)
    cfg = replace(MqttConfig(), host=mosquitto.host, port=mosquitto.port, hermes=True, ha_discovery=True,
                  publish_transcript=True)
    link = MqttLink(cfg, "voiced-pub", "voiced/test/status")
    listen_calls: List[bool] = []
    publisher = Publisher(link, Topics("voiced", "test"), cfg, "test", on_listen=listen_calls.append)
    publisher.set_grammar(grammar)
    sub = Subscriber(mosquitto, ["#"])
    link.start()
    assert link.wait_connected(10)
    yield publisher, Matcher(grammar), sub, listen_calls
    sub.close()
    link.close()


def json_of(sub: Subscriber, topic: str) -> dict:
    assert wait_until(lambda: sub.payloads(topic), 10), f"nothing on {topic}: {sub.messages}"
    return json.loads(sub.payloads(topic)[-1])


def test_recognized_intent_goes_to_every_configured_topic(publisher_setup):
    from voiced.payloads import Utterance

    publisher, matcher, sub, _ = publisher_setup
    result = matcher.match("turn on the living room light")
    assert result.recognized
    utt = Utterance(id="u1", text=result.text, start_s=1.0, end_s=2.5, latency_ms={"total": 120.0})
    sent = publisher.publish(utt, result)
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
    from voiced.payloads import Utterance

    publisher, matcher, sub, _ = publisher_setup
    result = matcher.match("turn on kitchen")  # close to LightOn, but below the threshold
    assert not result.recognized
    publisher.publish(Utterance(id="u2", text=result.text, start_s=0.0, end_s=1.0), result)
    message = json_of(sub, "voiced/test/not_recognized")
    assert message["text"] == "turn on kitchen" and message["utterance_id"] == "u2"
    (guess,) = message["guesses"]
    assert guess["intent"] == "LightOn" and 0 < guess["confidence"] < 0.72
    assert guess["slots"]["area"]["value"] == "kitchen"
    assert json_of(sub, "hermes/nlu/intentNotRecognized")["input"] == "turn on kitchen"
    assert not sub.payloads("voiced/test/intent/LightOn")


def test_home_assistant_discovery_is_resent_when_home_assistant_comes_online(publisher_setup):
    publisher, _, sub, _ = publisher_setup
    topic = "homeassistant/event/voiced_test/intent/config"
    config = json_of(sub, topic)
    assert config["event_types"] == ["LightOn", "TimeGet"]
    assert config["availability_topic"] == "voiced/test/status" and config["state_topic"] == "voiced/test/event"
    count = len(sub.payloads(topic))
    sub.client.publish("homeassistant/status", "online", qos=1)
    assert wait_until(lambda: len(sub.payloads(topic)) == count + 1, 10)


def test_listen_set_switches_listening_and_keeps_a_retained_state(publisher_setup, mosquitto):
    publisher, _, sub, calls = publisher_setup
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
