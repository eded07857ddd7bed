"""Hermes (Rhasspy) compatibility: every message voiced publishes is read with rhasspy-hermes's own
classes, and what Rhasspy sends (toggles, text queries) is written with them, through a real
mosquitto on loopback."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import List, Optional

import pytest
from hermes_support import Rhasspy, ensure_venv
from mqtt_support import Subscriber, wait_until

from voiced.config import MqttConfig
from voiced.grammar.loader import load_grammar, load_grammar_text, shipped_grammar_path
from voiced.grammar.matcher import Matcher
from voiced.mqtt import hermes
from voiced.mqtt.hermes import Mutes
from voiced.mqtt.link import MqttLink
from voiced.mqtt.payloads import Topics, Utterance
from voiced.mqtt.publisher import Publisher

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="session")
def rhasspy() -> Rhasspy:
    python, why = ensure_venv()
    if python is None:
        pytest.skip(why)
    return Rhasspy(python)


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return Matcher(load_grammar([shipped_grammar_path()]))


# Sentences of the shipped grammar as a recogniser writes them, and the words each slot must point at.
SENTENCES = [
    ("Set the bed light to five.", "DeviceBrightness", {"device": "bed light", "brightness": "five"}),
    ("Set the bedroom light to 50 percent.", "LightBrightness", {"area": "bedroom", "brightness": "50"}),
    ("Turn on the Living Room lights, please.", "LightOn", {"area": "Living Room"}),
    ("Set a timer for ten minutes and thirty seconds.", "TimerStart", {"minutes": "ten", "seconds": "thirty"}),
    ("Set the bed light brightness to twenty-five.", "DeviceBrightness",
     {"device": "bed light", "brightness": "twenty-five"}),
    ("What's the temperature in the kitchen?", "ClimateGetTemperature", {"zone": "kitchen"}),
]


# --- mute reasons, as Rhasspy's services keep them ---------------------------------------------

def test_each_component_and_reason_needs_its_own_toggle_on():
    mutes = Mutes()
    assert mutes.switch("asr", False, "ttsSay") == (True, False)
    assert mutes.switch("hotword", False, "ttsSay") == (False, False)
    assert mutes.switch("asr", True, "ttsSay") == (False, False)  # the hotword still holds it
    assert mutes.reasons() == ["hotword:ttsSay"]
    assert mutes.switch("hotword", True, "ttsSay") == (False, True)


def test_toggle_on_with_a_reason_undoes_only_that_reason_and_without_one_all():
    mutes = Mutes()
    mutes.switch("asr", False, "dialogueSession")
    mutes.switch("asr", False, "ttsSay")
    mutes.switch("asr", True, "ttsSay")
    assert not mutes.listening and mutes.reasons() == ["asr:dialogueSession"]
    mutes.switch("asr", True, "playAudio")  # nothing of that reason: no change
    assert not mutes.listening
    mutes.switch("asr", False, "ttsSay")
    mutes.switch("hotword", False)
    assert mutes.switch("asr", True) == (False, False)  # all of asr's, not the hotword's
    assert mutes.reasons() == ["hotword"]
    assert mutes.clear() == (False, True) and mutes.listening


# --- what voiced publishes, read by rhasspy-hermes ---------------------------------------------

def test_heard_intents_read_by_rhasspy_hermes_point_at_the_words_said(rhasspy, shipped):
    results = [(text, shipped.match(text)) for text, _, _ in SENTENCES]
    utts = [Utterance(id=f"u{i}", text=text, start_s=1.0, end_s=2.5, latency_ms={"asr": 412.0, "total": 415.0})
            for i, (text, _) in enumerate(results)]
    parsed = rhasspy.parse_all([("nlu.NluIntent", json.dumps(hermes.heard_intent(utt, result, "test")))
                                for utt, (_, result) in zip(utts, results)])
    for item, (text, intent, words), utt in zip(parsed, SENTENCES, utts):
        assert "error" not in item, (text, item)
        got = item["rhasspy"]
        assert got["intent"]["name"] == intent and got["text"] == text and item["message"]["sessionId"] == utt.id
        entities = {e["entity"]: e for e in got["entities"]}
        assert {name: text[e["start"]:e["end"]] for name, e in entities.items()} == words, got
        assert {name: text[e["raw_start"]:e["raw_end"]] for name, e in entities.items()} == words
        assert all(e["raw_value"] == words[name] for name, e in entities.items())
        for name, e in entities.items():
            number = isinstance(e["value"], (int, float))
            assert e["value_details"]["kind"] == ("Number" if number else "Unknown"), e
    assert parsed[0]["rhasspy"]["slots"] == {"device": "bed_light", "brightness": 5}


def test_text_captured_and_not_recognized_read_by_rhasspy_hermes(rhasspy, shipped):
    result = shipped.match("Set the bed light to five.")
    utt = Utterance(id="u1", text=result.text, start_s=1.0, end_s=4.0, latency_ms={"asr": 412.0})
    captured = rhasspy.parse("asr.AsrTextCaptured", json.dumps(hermes.text_captured(utt, result, "test")))
    message = captured["message"]
    # how long transcribing took, not how long the speaker spoke; the result's confidence
    assert message["seconds"] == 0.412 and message["likelihood"] == round(result.confidence, 3)
    assert message["likelihood"] < 1.0 or result.confidence == 1.0
    missed = shipped.match("the quick brown fox")
    gone = rhasspy.parse("nlu.NluIntentNotRecognized", json.dumps(hermes.heard_not_recognized(
        Utterance(id="u2", text=missed.text, start_s=0.0, end_s=1.0), "test")))
    assert gone["message"]["input"] == "the quick brown fox" and gone["message"]["sessionId"] == "u2"


def test_a_slot_with_a_fixed_value_has_no_range():
    g = load_grammar_text('intents:\n  Heat:\n    data:\n      - sentences: ["warm it up"]\n'
                          '        slots: {temperature: 21}\n')
    result = Matcher(g).match("warm it up")
    (slot,) = hermes.slots(result, result.text)
    assert slot["range"] is None and slot["value"] == {"kind": "Number", "value": 21}


def test_rhasspy_hermes_refuses_what_it_should(rhasspy):
    """The reader is strict, so the tests above can fail: a range that is not a number, a slot
    value that is not an object, an unknown field."""
    good = {"input": "x", "intent": {"intentName": "A", "confidenceScore": 1.0}, "siteId": "test",
            "slots": [{"entity": "a", "slotName": "a", "rawValue": "x", "value": {"kind": "Unknown", "value": "x"},
                       "confidence": 1.0, "range": {"start": 0, "end": 1, "rawStart": 0, "rawEnd": 1}}]}
    bad_range = dict(good, slots=[dict(good["slots"][0], range={"start": "zero", "end": 1})])
    bad_value = dict(good, slots=[dict(good["slots"][0], value="x")])
    items = rhasspy.parse_all([("nlu.NluIntent", json.dumps(p)) for p in (good, bad_range, bad_value,
                                                                       dict(good, extra=1))])
    assert ["error" in item for item in items] == [False, True, True, True]


# --- what Rhasspy sends, through a real broker ---------------------------------------------------

class Flow:
    """A Publisher with Hermes on, connected to a broker, and a subscriber to everything."""

    def __init__(self, broker, matcher: Matcher, site: str = "test"):
        self.matcher: Optional[Matcher] = matcher
        cfg = replace(MqttConfig(), host=broker.host, port=broker.port, hermes=True, reconnect_max_s=1)
        self.link = MqttLink(cfg, "voiced-hermes", f"voiced/{site}/status")
        self.switched: List[bool] = []
        self.publisher = Publisher(self.link, Topics("voiced", site), cfg, site, on_listen=self.switched.append,
                                   matcher=lambda: self.matcher)
        self.sub = Subscriber(broker, ["#"], client_id="rhasspy")
        self.link.start()
        assert self.link.wait_connected(10)
        # The link subscribes before it publishes its listen state: once that is here, so are they.
        assert wait_until(lambda: self.sub.payloads(f"voiced/{site}/listen") == ["on"], 10)

    def send(self, topic: str, payload: str) -> None:
        self.sub.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def heard(self, text: str, uid: str) -> List[str]:
        result = self.matcher.match(text)
        utt = Utterance(id=uid, text=text, start_s=0.0, end_s=1.5, latency_ms={"asr": 300.0})
        return self.publisher.publish(utt, result, self.matcher.grammar)

    def json(self, topic: str, count: int = 1) -> List[dict]:
        assert wait_until(lambda: len(self.sub.payloads(topic)) >= count, 10), (topic, self.sub.messages)
        return [json.loads(p) for p in self.sub.payloads(topic)]

    def close(self) -> None:
        self.sub.close()
        self.link.close()


@pytest.fixture
def flow(mosquitto, shipped):
    f = Flow(mosquitto, shipped)
    yield f
    f.close()


def test_toggle_off_stops_intents_until_every_toggle_on(flow, rhasspy):
    """What a Rhasspy dialogue does around TTS: asr and hotword off, speak, both on again."""
    for cls in ("asr.AsrToggleOff", "wake.HotwordToggleOff"):
        flow.send(*rhasspy.make(cls, site_id="test", reason="ttsSay"))
    assert wait_until(lambda: not flow.publisher.listening, 10)
    assert wait_until(lambda: flow.sub.payloads("voiced/test/listen")[-1:] == ["off"], 10)
    assert flow.switched == [False]
    assert flow.heard("turn on the kitchen light", "muted") == []  # an utterance that ends while muted
    flow.send(*rhasspy.make("asr.AsrToggleOn", site_id="test", reason="ttsSay"))
    flow.send(*rhasspy.make("wake.HotwordToggleOn", site_id="elsewhere", reason="ttsSay"))  # another satellite's
    time.sleep(1.0)
    assert not flow.publisher.listening and flow.switched == [False]
    flow.send(*rhasspy.make("wake.HotwordToggleOn", site_id="test", reason="ttsSay"))
    assert wait_until(lambda: flow.publisher.listening, 10)
    assert wait_until(lambda: flow.sub.payloads("voiced/test/listen")[-1:] == ["on"], 10)
    assert "hermes/intent/LightOn" in flow.heard("turn on the kitchen light", "heard")
    (intent,) = flow.json("hermes/intent/LightOn")
    assert intent["sessionId"] == "heard" and flow.switched == [False, True]
    assert not flow.sub.payloads("voiced/test/intent/LightOn")[1:]  # the muted one never went out


def test_audio_server_toggle_and_toggles_without_a_site_id(flow, rhasspy):
    flow.send("hermes/audioServer/toggleOff", "{}")  # no siteId: for every site
    assert wait_until(lambda: not flow.publisher.listening, 10)
    flow.send("hermes/asr/toggleOff", '{"siteId": "test"}')
    flow.send("hermes/audioServer/toggleOn", json.dumps({"siteId": "test"}))
    time.sleep(0.5)
    assert not flow.publisher.listening  # asr still off
    flow.send("hermes/asr/toggleOn", "not json")  # ignored with a warning
    time.sleep(0.5)
    assert not flow.publisher.listening
    flow.send(*rhasspy.make("asr.AsrToggleOn", site_id="test"))
    assert wait_until(lambda: flow.publisher.listening, 10)


def test_listen_set_on_overrides_every_toggle(flow, rhasspy):
    flow.send(*rhasspy.make("asr.AsrToggleOff", site_id="test", reason="dialogueSession"))
    assert wait_until(lambda: not flow.publisher.listening, 10)
    flow.send("voiced/test/listen/set", "on")
    assert wait_until(lambda: flow.publisher.listening, 10)


def test_nlu_query_gets_intent_parsed_and_the_intent_with_its_ids(flow, rhasspy):
    text = "Set the bed light to five"
    flow.send(*rhasspy.make("nlu.NluQuery", input=text, site_id="test", id="q1", session_id="s1"))
    (parsed,) = flow.json("hermes/nlu/intentParsed")
    (intent,) = flow.json("hermes/intent/DeviceBrightness")
    for message in (parsed, intent):
        assert (message["id"], message["sessionId"], message["siteId"], message["input"]) == ("q1", "s1", "test", text)
    got = rhasspy.parse("nlu.NluIntentParsed", flow.sub.payloads("hermes/nlu/intentParsed")[0])["message"]
    assert got["intent"]["intentName"] == "DeviceBrightness"
    ranges = {s["slotName"]: text[s["range"]["start"]:s["range"]["end"]] for s in got["slots"]}
    assert ranges == {"device": "bed light", "brightness": "five"}
    entities = rhasspy.parse("nlu.NluIntent", flow.sub.payloads("hermes/intent/DeviceBrightness")[0])["rhasspy"]
    assert {e["entity"]: (e["value"], text[e["raw_start"]:e["raw_end"]]) for e in entities["entities"]} == \
        {"device": ("bed_light", "bed light"), "brightness": (5, "five")}
    assert not flow.sub.payloads("voiced/test/intent/DeviceBrightness")  # a query is not a spoken command


def test_nlu_query_not_recognized_filtered_or_for_another_site(flow, rhasspy):
    flow.send(*rhasspy.make("nlu.NluQuery", input="Set the bed light to five", site_id="test", id="q2",
                            intent_filter=["LightOn", "LightOff"]))
    (missed,) = flow.json("hermes/nlu/intentNotRecognized")
    assert missed["id"] == "q2" and missed["input"] == "Set the bed light to five"
    rhasspy.parse("nlu.NluIntentNotRecognized", flow.sub.payloads("hermes/nlu/intentNotRecognized")[0])
    flow.send(*rhasspy.make("nlu.NluQuery", input="turn on the kitchen light", site_id="elsewhere", id="q3"))
    flow.send(*rhasspy.make("nlu.NluQuery", input="the quick brown fox", site_id="test", id="q4", session_id="s4"))
    second = flow.json("hermes/nlu/intentNotRecognized", 2)[1]
    assert (second["id"], second["sessionId"]) == ("q4", "s4")
    time.sleep(0.5)
    assert not flow.sub.payloads("hermes/nlu/intentParsed")  # q3 was for another satellite's NLU


def test_nlu_query_while_muted_and_after_a_grammar_swap(flow, rhasspy):
    """Text queries do not listen, so toggles do not stop them; they use the grammar in use now."""
    flow.send(*rhasspy.make("asr.AsrToggleOff", site_id="test", reason="ttsSay"))
    assert wait_until(lambda: not flow.publisher.listening, 10)
    flow.send(*rhasspy.make("nlu.NluQuery", input="turn on the kitchen light", site_id="test", id="q5"))
    assert flow.json("hermes/nlu/intentParsed")[0]["id"] == "q5"
    flow.matcher = Matcher(load_grammar_text('intents:\n  Hello:\n    data:\n      - sentences: ["hello there"]\n'))
    flow.send(*rhasspy.make("nlu.NluQuery", input="hello there", site_id="test", id="q6"))
    assert flow.json("hermes/intent/Hello")[0]["id"] == "q6"
    flow.matcher = None  # the daemon has not built its matcher yet
    flow.send(*rhasspy.make("nlu.NluQuery", input="hello there", site_id="test", id="q7"))
    assert flow.json("hermes/nlu/intentNotRecognized")[0]["id"] == "q7"


# --- the whole daemon ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_daemon_stays_muted_while_rhasspy_speaks_and_answers_text_queries(tmp_path, mosquitto, speech_dir,
                                                                               rhasspy):
    import subprocess

    import numpy as np
    from test_daemon import NotifySocket, daemon_log, pcm, silence, start_daemon

    from voiced.audio.wav import load_audio

    config = tmp_path / "voiced.yaml"
    config.write_text(f"site_id: test\ngrammar:\n  paths: [{shipped_grammar_path()}]\n"
                      f"mqtt:\n  host: {mosquitto.host}\n  port: {mosquitto.port}\n  reconnect_max_s: 1\n"
                      f"  hermes: true\nlogging:\n  level: INFO\n")
    sub = Subscriber(mosquitto, ["voiced/test/#", "hermes/#"])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/listen") == ["on"], 10)
        for cls in ("asr.AsrToggleOff", "wake.HotwordToggleOff"):
            sub.client.publish(*rhasspy.make(cls, site_id="test", reason="ttsSay"), qos=1)
        assert wait_until(lambda: sub.payloads("voiced/test/listen")[-1:] == ["off"], 10)
        muted = load_audio(speech_dir / "commands/stp_lock_the_front_door.wav")
        proc.stdin.write(pcm(np.concatenate([silence(1.0), muted, silence(1.5)])))
        proc.stdin.flush()
        time.sleep(3.0)  # the clip is read and dropped while muted
        sub.client.publish(*rhasspy.make("asr.AsrToggleOn", site_id="test", reason="ttsSay"), qos=1)
        time.sleep(0.5)
        assert sub.payloads("voiced/test/listen")[-1:] == ["off"]  # the hotword's toggleOff still holds
        sub.client.publish(*rhasspy.make("wake.HotwordToggleOn", site_id="test", reason="ttsSay"), qos=1)
        assert wait_until(lambda: sub.payloads("voiced/test/listen")[-1:] == ["on"], 10)
        # a text query, matched by the grammar the daemon runs
        sub.client.publish(*rhasspy.make("nlu.NluQuery", input="set the bed light to five", site_id="test",
                                         id="q1"), qos=1)
        assert wait_until(lambda: sub.payloads("hermes/nlu/intentParsed"), 10), daemon_log(config)
        heard = load_audio(speech_dir / "commands/stp_set_bed_light_brightness_to_50_percent.wav")
        proc.stdin.write(pcm(np.concatenate([silence(1.0), heard, silence(1.5)])))
        proc.stdin.close()
        assert proc.wait(120) == 0, daemon_log(config)
    finally:
        proc.kill()
        sub.close()
        notify.close()
    assert [t for t, _, _ in sub.messages if t.startswith("voiced/test/intent/")] == \
        ["voiced/test/intent/DeviceBrightness"], daemon_log(config)
    intents = [(t, p) for t, p, _ in sub.messages if t.startswith("hermes/intent/")]
    assert [t for t, _ in intents] == ["hermes/intent/DeviceBrightness"] * 2  # the query's, then the spoken one
    query, spoken = (rhasspy.parse("nlu.NluIntent", p) for _, p in intents)
    assert query["message"]["id"] == "q1"
    assert {e["entity"]: e["value"] for e in spoken["rhasspy"]["entities"]} == {"device": "bed_light",
                                                                                "brightness": 50}
    text = spoken["message"]["input"]
    # the recogniser may write "bed light" or "bedlight": the range is those words, whichever
    words = {e["entity"]: text[e["start"]:e["end"]] for e in spoken["rhasspy"]["entities"]}
    assert {k: "".join(w.lower().split()) for k, w in words.items()} == {"device": "bedlight", "brightness": "50"}
    assert all(e["raw_value"] == words[e["entity"]] for e in spoken["rhasspy"]["entities"]), text
    (captured,) = [rhasspy.parse("asr.AsrTextCaptured", p)["message"] for p in sub.payloads("hermes/asr/textCaptured")]
    own = json.loads(sub.payloads("voiced/test/intent/DeviceBrightness")[0])
    # (the intent payload rounds the latency to 0.1 ms first, so the two may differ in the last digit)
    assert abs(captured["seconds"] - own["latency_ms"]["asr"] / 1000.0) <= 0.00051
    assert captured["seconds"] < own["end_s"] - own["start_s"]
    assert captured["likelihood"] == own["confidence"]
