"""Speculative finalization: the result is computed during the end-of-speech hangover, and what
is published is exactly what finalizing at the endpoint would publish.

Real recordings from the corpus, the real base-en model (v1, whole-utterance encoder) and the
committed tiny twin (v2, incremental encoder), the real Silero VAD and endpointer, the real
grammar matcher and publisher (writing `topic payload` lines instead of to a broker).
"""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

from voiced.audio.wav import load_audio
from voiced.config import Config, GrammarConfig, VadConfig, load_config
from voiced.vad.endpoint import AUDIO_COMPLETE, SPEECH_END, SPEECH_RESUMED, Endpointer
from voiced.pipeline import UtteranceProcessor
from voiced.mqtt.publisher import Publisher, StdoutLink, topics_for
from voiced.stages import Finished, Observer
from voiced.vad.silero import SileroVad

REPO = Path(__file__).resolve().parent.parent
CLIPS = ["stp_set_a_timer_for_5_minutes.wav", "stp_lock_the_front_door.wav", "stp_what_time_is_it.wav",
         "v2j_would_you_please_turn_on_the_living_room_lamp.wav", "stp_set_kitchen_lights_to_green.wav"]
TIMING_KEYS = ("utterance_id", "started_at", "latency_ms")

pytestmark = pytest.mark.timeout(300)


def noise(seconds: float, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * 16000)) * 1e-3).astype(np.float32)


@pytest.fixture(scope="module")
def config() -> Config:
    return Config(grammar=GrammarConfig(paths=[str(REPO / "config" / "commands.yaml")]))


@pytest.fixture(scope="module")
def matcher(config):
    from voiced.daemon import load_matcher

    return load_matcher(config)


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad(None)


class Tally(Observer):
    """Speculative results used and discarded, and the utterances finished."""

    def __init__(self) -> None:
        self.speculation = {"used": 0, "discarded": 0}
        self.finished: List[Finished] = []

    def speculation_discarded(self, why: str) -> None:
        self.speculation["discarded"] += 1

    def utterance_finished(self, finished: Finished) -> None:
        self.finished.append(finished)
        self.speculation["used"] += finished.speculative


def run(stream: np.ndarray, transcriber, matcher, config: Config, vad_config: VadConfig, vad: SileroVad,
        speculative: bool) -> Tuple[List[Tuple[str, dict]], UtteranceProcessor, Tally, list]:
    """The daemon's processing loop over `stream`: published messages (timing fields dropped),
    the processor, what its observer saw and the endpointer's events."""
    grammar, match = matcher
    out = io.StringIO()
    publisher = Publisher(StdoutLink(out), topics_for(config), config.mqtt, config.site_id)
    publisher.announce(grammar)
    tally = Tally()
    processor = UtteranceProcessor(transcriber, match, publisher, speculative=speculative, observer=tally)
    endpointer = Endpointer(vad_config, vad)
    endpointer.reset()
    events = []
    block = 512 * 3  # not a multiple of the VAD chunk, as a microphone delivers it
    for k in range(0, len(stream), block):
        events += endpointer.feed(stream[k:k + block])
    events += endpointer.flush()
    for event in events:
        processor.handle(event)
    messages = []
    for line in out.getvalue().splitlines():
        topic, payload = line.split(" ", 1)
        data = json.loads(payload) if payload.startswith("{") else payload
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in TIMING_KEYS}
        messages.append((topic, data))
    return messages, processor, tally, events


def commands_stream(speech_dir: Path) -> np.ndarray:
    parts = [noise(1.0)]
    for name in CLIPS:
        parts += [load_audio(speech_dir / "commands" / name), noise(1.5)]
    return np.concatenate(parts)


def assert_identical(stream, transcriber, matcher, config, vad, vad_config=VadConfig()):
    naive, plain, plain_seen, _ = run(stream, transcriber, matcher, config, vad_config, vad, speculative=False)
    fast, spec, spec_seen, _ = run(stream, transcriber, matcher, config, vad_config, vad, speculative=True)
    assert plain_seen.speculation == {"used": 0, "discarded": 0}
    assert spec_seen.speculation["used"] == plain.completed == spec.completed > 0
    assert all(f.speculative for f in spec_seen.finished)
    assert fast == naive
    return naive


def test_speculative_results_are_identical_on_real_speech_base_en(speech_dir, base_en_transcriber, matcher,
                                                                  config, vad):
    messages = assert_identical(commands_stream(speech_dir), base_en_transcriber, matcher, config, vad)
    intents = [t.rsplit("/", 1)[-1] for t, _ in messages if "/intent/" in t]
    assert len(intents) >= 4, messages  # real commands, mostly recognised: the comparison means something


def test_speculative_results_are_identical_with_the_incremental_v2_encoder(speech_dir, tiny_twin_model, matcher,
                                                                         config, vad):
    from voiced.asr.transcriber import Transcriber

    transcriber = Transcriber(tiny_twin_model, max_tokens_per_second=3.0)
    assert transcriber.geometry is not None  # the v2 path: encoded while speaking, the tail at the end
    assert_identical(commands_stream(speech_dir), transcriber, matcher, config, vad)


def test_speech_resuming_in_the_hangover_discards_the_speculative_result(speech_dir, base_en_transcriber, matcher,
                                                                         config, vad):
    # A long hangover and a short pause inside one command: the audio is complete (post pad
    # done) during the pause, then speech comes back before the endpoint.
    # (The first clip ends with ~0.8 s of room tone, so the pause the VAD hears is ~1.5 s.)
    vad_config = VadConfig(min_silence_ms=2000, post_pad_ms=200)
    first = load_audio(speech_dir / "commands" / "stp_what_time_is_it.wav")
    second = load_audio(speech_dir / "commands" / "stp_lock_the_front_door.wav")
    stream = np.concatenate([noise(1.0), first, noise(0.2, seed=2), second, noise(2.0)])
    naive, _, _, events = run(stream, base_en_transcriber, matcher, config, vad_config, vad, speculative=False)
    fast, _, spec_seen, _ = run(stream, base_en_transcriber, matcher, config, vad_config, vad, speculative=True)
    kinds = [e.kind for e in events if e.kind in (AUDIO_COMPLETE, SPEECH_RESUMED, SPEECH_END)]
    assert kinds[:3] == [AUDIO_COMPLETE, SPEECH_RESUMED, AUDIO_COMPLETE] and kinds.count(SPEECH_END) == 1, kinds
    assert spec_seen.speculation == {"used": 1, "discarded": 1}
    assert fast == naive
    text = naive[0][1]["text"].lower()
    assert "time" in text and "door" in text, naive  # one utterance with both halves


def test_the_config_switch_turns_speculation_off(speech_dir, base_en_transcriber, matcher, config, vad):
    assert Config().speculative is True
    off = load_config(text="speculative: false\n")
    assert off.speculative is False
    stream = np.concatenate([noise(0.5), load_audio(speech_dir / "commands" / CLIPS[2]), noise(1.5)])
    _, processor, seen, events = run(stream, base_en_transcriber, matcher, config, VadConfig(), vad,
                                     speculative=off.speculative)
    assert any(e.kind == AUDIO_COMPLETE for e in events)
    assert processor.completed == 1 and seen.speculation == {"used": 0, "discarded": 0}
    assert not seen.finished[0].speculative


def test_post_pad_shorter_than_the_hangover_completes_the_audio_before_the_endpoint(speech_dir, vad):
    stream = np.concatenate([noise(0.5), load_audio(speech_dir / "commands" / CLIPS[0]), noise(1.5)])
    for post in (0, 300):
        endpointer = Endpointer(dataclasses.replace(VadConfig(), post_pad_ms=post), vad)
        endpointer.reset()
        events = endpointer.feed(stream) + endpointer.flush()
        complete = [e for e in events if e.kind == AUDIO_COMPLETE]
        end = [e for e in events if e.kind == SPEECH_END][-1]
        assert complete and abs(complete[-1].time_s - end.end_s) < 1e-9  # no audio after it
        # The endpoint is decided min_silence_ms (16 chunks) after the last speech chunk.
        assert end.decided_s - end.end_s == pytest.approx((16 - -(-post * 16 // 512)) * 0.032, abs=1e-6)
