"""Teacher-forced scoring on the real base-en model: batching and padding change nothing, and
every way of running the sentences gives the same scores."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from voiced.asr.scoring import Pruning, ScoringError, SequenceScorer
from voiced.asr.scoring.steps import Batched, Uncached
from voiced.audio.wav import load_audio

SENTENCES = ["Set kitchen lights to green", "So, kitchen likes to green", "Set kitchen lights to red",
             "Turn on the kitchen light please", "Kitchen lights on", "What's the weather like in New York"]


def _scorer(transcriber, steps, prune=None) -> SequenceScorer:
    """A scorer that runs the sentences `steps`' way, whatever the model would choose."""
    return SequenceScorer(steps, transcriber.tokenizer.end_ids(), prune)


def _assert_same(scores, reference, tolerance):
    assert len(scores) == len(reference)
    for a, b in zip(scores, reference):
        assert a.count == b.count
        assert a.total == pytest.approx(b.total, abs=tolerance)


@pytest.fixture(scope="module")
def scored(kitchen_green):
    transcriber, states = kitchen_green
    return transcriber, transcriber.scorer(), states


def test_the_float_scorer_batches_on_the_cached_step_with_one_encoder_cache(scored):
    """Chosen once when built: base-en's merged graph takes several tokens at once and
    broadcasts the encoder cache, so that is how it runs."""
    transcriber, scorer, _ = scored
    assert isinstance(scorer.steps, Batched) and "passed once" in scorer.description
    assert transcriber.scorer().steps is scorer.steps  # chosen once per recogniser


def test_batched_scores_equal_one_by_one(scored):
    transcriber, scorer, states = scored
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES]
    assert len({len(s) for s in sequences}) > 1  # padding is exercised
    batched = scorer.score(states, sequences)
    single = [scorer.score(states, [s])[0] for s in sequences]
    for b, s, seq in zip(batched, single, sequences):
        assert b.count == s.count == len(seq) + 1
        assert b.total == pytest.approx(s.total, abs=2e-3)
    # the scores are real log-probabilities, different per sentence
    assert all(b.total < 0 for b in batched)
    assert len({round(b.total, 3) for b in batched}) == len(batched)


def test_score_matches_logits_by_hand(scored):
    """The sum equals log-softmax of the logits read at each position, plus the sentence end."""
    from voiced.asr.tokenizer import BOS_ID, EOS_ID

    transcriber, scorer, states = scored
    seq = transcriber.tokenizer.encode(SENTENCES[0])
    ids = np.asarray([[BOS_ID] + seq], dtype=np.int64)
    logits = Uncached(transcriber.decoder).logits(states, ids)[0].astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)) \
        - logits.max(axis=1, keepdims=True)
    expected = sum(logp[k, t] for k, t in enumerate(seq))
    ends = transcriber.tokenizer.end_ids()
    assert ends[0] == EOS_ID and len(ends) == 4
    expected += np.log(np.exp(logp[len(seq), ends]).sum())
    assert scorer.score(states, [seq])[0].total == pytest.approx(expected, abs=1e-3)


def test_the_spoken_sentence_outscores_a_wrong_slot(scored):
    transcriber, scorer, states = scored
    right, wrong = scorer.score(states, [transcriber.tokenizer.encode(SENTENCES[0]),
                                         transcriber.tokenizer.encode(SENTENCES[2])])
    assert right.normalized() > wrong.normalized() + 1.0


def test_cached_step_scoring_equals_the_uncached_graph(scored):
    """Scores come from the recogniser's own first step plus one cached-step call; they must
    equal the uncached graph run on [BOS, t1 .. tn] directly."""
    transcriber, scorer, states = scored
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES] + [[]]
    cached = scorer.score(states, sequences)
    _assert_same(cached, _scorer(transcriber, Uncached(transcriber.decoder)).score(states, sequences), 1e-3)


def test_pruned_scoring_equals_one_batch_for_the_sequences_it_keeps(scored):
    """Openings first, then the rest on the openings' cache: with no pruning the scores equal one
    batch (sequences shorter than the opening, sharing an opening, and empty included); with a
    tight gap the sequence that opens worst scores -inf and the others keep their scores."""
    transcriber, scorer, states = scored
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES] + [[], transcriber.tokenizer.encode("Set")]
    whole = scorer.score(states, sequences)
    _assert_same(whole, transcriber.scorer(prune=Pruning(after=3, gap=math.inf)).score(states, sequences), 1e-3)
    pruned = transcriber.scorer(prune=Pruning(after=3, gap=2.0)).score(states, sequences)
    gone = [i for i, s in enumerate(pruned) if s.total == -math.inf]
    long = [i for i, s in enumerate(sequences) if len(s) > 3]
    assert gone and set(gone) < set(long)  # the best opening always goes on
    looser = transcriber.scorer(prune=Pruning(after=3, gap=10.0)).score(states, sequences)
    assert {i for i, s in enumerate(looser) if s.total == -math.inf} < set(gone)
    for i, s in enumerate(pruned):
        if i not in gone:
            assert s.total == pytest.approx(whole[i].total, abs=1e-3)


def test_one_encoder_cache_for_all_candidates_equals_one_per_candidate(scored):
    """The cross-attention cache goes in once and the graph broadcasts it over the batch; the
    scores must be those of the same cache repeated for every candidate."""
    transcriber, scorer, states = scored
    decoder = transcriber.decoder
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES]
    shared = scorer.score(states, sequences)
    repeated = _scorer(transcriber, Batched(decoder, decoder.later, share_cross=False)).score(states, sequences)
    _assert_same(shared, repeated, 1e-4)


def test_the_transcription_is_scored_by_its_own_decode(scored):
    """The greedy decode's per-step log-probabilities give the transcription's score: it must
    equal teacher-forced scoring of the same tokens, on every prefix too."""
    from voiced.asr.scoring import transcript_score

    transcriber, scorer, states = scored
    transcript = transcriber.finalize()  # the fixture's utterance again, on the same states
    assert transcriber.encoder_states() is states
    ids = transcriber.tokenizer.encode(transcript.text.rstrip(".?! "))
    assert ids and transcript.tokens[:len(ids)] == ids
    for n in (len(ids), 2):
        own = transcript_score(ids[:n], transcript)
        batch = scorer.score(states, [ids[:n]])[0]
        assert own.count == batch.count
        assert own.total == pytest.approx(batch.total, abs=1e-3)
    assert transcript_score(ids[:-1] + [ids[-1] + 1], transcript) is None  # not what was decoded
    assert transcript_score(ids, type(transcript)(text=transcript.text, tokens=transcript.tokens)) is None


def test_the_transcripts_first_step_is_reused(scored):
    """Rescoring the utterance just transcribed runs no second first step; other states do."""
    transcriber, _, states = scored
    decoder = transcriber.decoder
    assert decoder.first_step(states) is decoder.first_step(states)
    fresh = decoder.first_step(states.copy())
    assert fresh is not decoder.first_step(states)
    logits = next(iter(fresh.values())).numpy()
    np.testing.assert_allclose(logits, next(iter(decoder.first_step(states).values())).numpy(), atol=1e-4)


def test_cached_step_scoring_on_the_v2_layout(tiny_twin_model, speech_dir, tmp_path):
    """v2: decoder_with_past takes the candidates' tokens at once and gives the uncached graph's
    scores. Float copies of the twin's graphs, so that INT8's per-call activation scales (which
    differ with the batch) cannot hide a wrong attention mask."""
    import shutil

    from asr_float_twin import dequantize_matmuls
    from voiced.asr.models import load_model_dir
    from voiced.asr.transcriber import Transcriber

    folder = tmp_path / "float-twin"
    shutil.copytree(tiny_twin_model.directory, folder)
    for path in (tiny_twin_model.encoder, tiny_twin_model.decoder, tiny_twin_model.decoder_with_past):
        dequantize_matmuls(path, folder / path.name)
    transcriber = Transcriber(load_model_dir(folder, "test"), warm=False)
    transcriber.transcribe(load_audio(speech_dir / "commands" / "stp_set_kitchen_lights_to_green.wav"))
    states = transcriber.encoder_states()
    scorer = transcriber.scorer(int8=True)  # v2 is 8-bit already: no copy to build
    assert isinstance(scorer.steps, Batched) and "model's own" in scorer.description
    assert "passed once" in scorer.description
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES]
    cached = scorer.score(states, sequences)
    reference = _scorer(transcriber, Uncached(transcriber.decoder)).score(states, sequences)
    for c, r in zip(cached, reference):
        assert c.total == pytest.approx(r.total, abs=1e-3)
    pruned = transcriber.scorer(prune=Pruning(after=2, gap=math.inf)).score(states, sequences)
    for p, r in zip(pruned, reference):
        assert p.total == pytest.approx(r.total, abs=1e-3)
    # a wrong mask (a token seeing the ones after it) moves scores by whole nats, not 1e-3
    assert len({round(c.total, 2) for c in cached}) == len(cached)


def test_a_way_the_decoder_refuses_is_passed_over_when_the_scorer_is_built(kitchen_green, monkeypatch, caplog):
    """The way of scoring is settled on a probe at build and logged once; nothing switches later."""
    from voiced.asr.scoring import choose_steps

    transcriber, states = kitchen_green
    real = Batched._run

    def no_broadcast(self, first, states, ids, past=None, keep=False):
        if self.share_cross:
            raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : cannot broadcast")
        return real(self, first, states, ids, past, keep)

    monkeypatch.setattr(Batched, "_run", no_broadcast)
    with caplog.at_level(logging.INFO, logger="voiced.asr.scoring"):
        steps = choose_steps(transcriber.decoder, states, int8=False)
    assert isinstance(steps, Batched) and not steps.share_cross
    chosen = [r for r in caplog.records if "rescoring scores sentences" in r.getMessage()]
    assert len(chosen) == 1 and chosen[0].levelno == logging.INFO
    assert "repeated per sentence" in chosen[0].getMessage()


def test_a_call_the_decoder_refuses_raises_a_scoring_error_and_changes_nothing(scored):
    transcriber, scorer, states = scored
    steps = scorer.steps
    with pytest.raises(ScoringError, match="failed"):
        scorer.score(np.zeros((1, 5, 7), dtype=np.float32), [[5, 6, 7]])  # not this model's width
    assert scorer.steps is steps
    assert scorer.score(states, [[5, 6, 7]])[0].count == 4
