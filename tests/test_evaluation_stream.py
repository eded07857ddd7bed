"""Streams: deterministic layout with exact spans, and real commands through the daemon's path with no reset."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.audio.wav import load_audio
from voiced.evaluation.labels import Label
from voiced.evaluation.stream import BURST, CLIP, NEGATIVE, StreamSettings, build_stream, speech_power

REPO = Path(__file__).resolve().parent.parent
LABELS = json.loads((REPO / "config" / "eval" / "commands.labels.json").read_text())
# Long enough for the VAD in a stream as well as alone, and right per clip with base-en.
COMMANDS = ["stp_lock_the_front_door.wav", "stp_set_a_timer_for_3_hours_and_10_minutes.wav",
            "v2j_would_you_please_turn_on_the_living_room_lamp.wav", "stp_cancel_all_timers.wav"]
NEGATIVE_CLIP = "librispeech_251-118436-0001.wav"


def _tones(n: int = 5) -> list:
    """Distinct synthetic clips: a tone of its own frequency and length each, so spans can be checked."""
    out = []
    for k in range(n):
        t = np.arange(int((0.5 + 0.1 * k) * SAMPLE_RATE)) / SAMPLE_RATE
        out.append((f"tone{k}.wav", (0.3 * np.sin(2 * np.pi * (200 + 100 * k) * t)).astype(np.float32),
                    Label("Tone", {}, f"tone {k}")))
    return out


def _layout(stream) -> list:
    return [(s.name, s.kind, s.start, s.end) for s in stream.segments]


def test_same_seed_same_stream_other_seed_other_stream():
    clips, negs = _tones(), [("neg.wav", np.full(8000, 0.1, np.float32))]
    settings = StreamSettings(seed=3, repeat=3, negative_every=2, burst_every=3)
    a, b = build_stream(clips, settings, negs), build_stream(clips, settings, negs)
    c = build_stream(clips, StreamSettings(seed=4, repeat=3, negative_every=2, burst_every=3), negs)
    assert _layout(a) == _layout(b) and np.array_equal(a.audio, b.audio)
    assert _layout(a) != _layout(c)


def test_segments_do_not_overlap_and_spans_hold_the_clips():
    clips = _tones()
    settings = StreamSettings(seed=1, repeat=2, snr_db=None, gap_s=(0.5, 1.0), burst_every=4)
    stream = build_stream(clips, settings, [("neg.wav", np.full(4000, 0.05, np.float32))])
    by_name = {name: audio for name, audio, _ in clips}
    placed = [s for s in stream.segments if s.kind == CLIP]
    assert sorted(s.name for s in placed) == sorted(list(by_name) * 2)
    for prev, seg in zip(stream.segments, stream.segments[1:]):
        assert seg.start - prev.end >= int(0.5 * SAMPLE_RATE) - 1  # a gap of at least the minimum
    for seg in placed:
        # No noise and no rescaling: the span holds exactly the clip's samples.
        assert np.array_equal(stream.audio[seg.start:seg.end], by_name[seg.name])
        assert seg.label == next(lbl for n, _, lbl in clips if n == seg.name)
    quiet = np.ones(len(stream.audio), bool)
    for seg in stream.segments:
        quiet[seg.start:seg.end] = False
    assert not np.any(stream.audio[quiet])  # outside the segments there is only the (absent) noise
    kinds = [s.kind for s in stream.segments]
    assert kinds.count(BURST) == len(placed) // 4 and kinds.count(NEGATIVE) == len(placed) // 7


def test_noise_covers_the_gaps_at_the_stated_snr():
    clips = _tones(3)
    stream = build_stream(clips, StreamSettings(seed=2, snr_db=20.0, burst_every=0))
    first = stream.segments[0]
    gap = stream.audio[:first.start]
    reference = np.median([speech_power(a) for _, a, _ in clips])
    measured = 10 * np.log10(reference / np.mean(gap.astype(np.float64) ** 2))
    assert abs(measured - 20.0) < 1.5


def test_save_writes_the_wav_and_its_layout(tmp_path):
    stream = build_stream(_tones(2), StreamSettings(seed=0))
    layout = json.loads(stream.save(tmp_path / "s.wav").read_text())
    assert len(load_audio(tmp_path / "s.wav")) == len(stream.audio)
    assert [(s["name"], s["start"], s["end"]) for s in layout["segments"]] == \
        [(s.name, s.start, s.end) for s in stream.segments]


def test_a_result_belongs_to_the_segment_it_overlaps_most():
    from voiced.evaluation.scoring import UtteranceResult
    from voiced.evaluation.stream import Segment
    from voiced.evaluation.stream_eval import assign

    segments = [Segment("a", CLIP, 16000, 48000), Segment("b", NEGATIVE, 64000, 160000)]  # 1-3 s, 4-10 s

    def result(start_s: float, end_s: float) -> UtteranceResult:
        return UtteranceResult("x", True, start_s=start_s, end_s=end_s)

    got = assign([result(0.5, 1.2), result(2.5, 4.5), result(2.9, 5.0), result(3.2, 3.8), result(11.0, 12.0)],
                 segments)
    assert got == [0, 0, 1, None, None]


# --- through the daemon's path with base-en -------------------------------------------------

def test_stream_of_real_commands_yields_exactly_those_commands(pipeline, speech_dir):
    from voiced.evaluation.labels import load_labels
    from voiced.evaluation.stream_eval import run_stream, summarize_stream

    labels = load_labels(REPO / "config" / "eval" / "commands.labels.json")
    clips = [(n, load_audio(speech_dir / "commands" / n), labels[n]) for n in COMMANDS]
    stream = build_stream(clips, StreamSettings(seed=5, snr_db=30.0, burst_every=0, gap_s=(2.0, 4.0)))
    run = run_stream(pipeline, stream)
    s = summarize_stream(run)
    assert (s["accepted"], s["in_grammar"], s["false_accepts"], s["no_utterance"]) == (4, 4, 0, 0), s["errors"]
    recognized = [(r.intent, r.slots) for r in run.results if r.recognized]
    expected = [(seg.label.intent, seg.label.slots) for seg in stream.commands()]
    assert recognized == expected


def test_silence_noise_and_a_real_negative_give_nothing(pipeline, speech_dir):
    from voiced.evaluation.stream_eval import run_stream

    negative = load_audio(speech_dir / "sentences" / NEGATIVE_CLIP)
    silence = ("silence.wav", np.zeros(3 * SAMPLE_RATE, np.float32), Label(None))
    stream = build_stream([silence], StreamSettings(seed=1, snr_db=15.0, burst_every=1, negative_every=1),
                          [(NEGATIVE_CLIP, negative)])
    assert [s.kind for s in stream.segments] == [CLIP, BURST, NEGATIVE]
    run = run_stream(pipeline, stream)
    assert not [r for r in run.results if r.recognized]
    assert run.false_accepts() == []


def test_short_commands_in_a_stream_each_get_an_utterance(speech_dir):
    """The VAD's recurrent state drifts over quiet after speech; without the idle reset
    (vad.idle_reset_s) these short words never start an utterance."""
    from voiced.config import Config
    from voiced.vad.endpoint import segment_audio

    # Each is found per clip, and in the stream too once the recurrent state is zeroed after 1 s of idle
    # quiet ("nevermind", a 5-chunk blip even from a fresh state, is left out).
    names = ["stp_lock_the_front_door.wav", "stp_set_a_timer_for_5_minutes.wav", "stp_next.wav",
             "stp_whats_the_weather.wav", "stp_run_party_time.wav"]
    clips = [(n, load_audio(speech_dir / "commands" / n), Label("X")) for n in names]
    stream = build_stream(clips, StreamSettings(seed=1, repeat=2, snr_db=30.0, burst_every=0))
    def missed(vad_config) -> list:
        segments = segment_audio(stream.audio, vad_config)
        return [c.name for c in stream.commands()
                if not any(min(s.end_s, c.end_s) > max(s.start_s, c.start_s) for s in segments)]

    assert missed(Config().vad) == []
    assert missed(dataclasses.replace(Config().vad, idle_reset_s=0.0))  # the drift the reset undoes
