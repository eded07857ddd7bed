"""Teacher-forced scoring on the real base-en model: batching and padding change nothing."""
from __future__ import annotations

import numpy as np
import pytest

from voiced.asr.models import find_dev_model
from voiced.audio.wav import load_audio

SENTENCES = ["Set kitchen lights to green", "So, kitchen likes to green", "Set kitchen lights to red",
             "Turn on the kitchen light please", "Kitchen lights on", "What's the weather like in New York"]


@pytest.fixture(scope="module")
def scored(speech_dir):
    from voiced.asr.transcriber import Transcriber
    from voiced.rescoring.scorer import SequenceScorer

    files = find_dev_model()
    if files is None:
        pytest.skip("the base-en development model (moonshine-cpp wheel) is not installed")
    transcriber = Transcriber(files, warm=False)
    transcriber.transcribe(load_audio(speech_dir / "commands" / "stp_set_kitchen_lights_to_green.wav"))
    return transcriber, SequenceScorer(transcriber.decoder, transcriber.tokenizer), transcriber.encoder_states()


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
    from voiced.rescoring.scorer import end_token_ids

    transcriber, scorer, states = scored
    seq = transcriber.tokenizer.encode(SENTENCES[0])
    ids = np.asarray([[BOS_ID] + seq], dtype=np.int64)
    logits = scorer.logits(states, ids)[0].astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)) \
        - logits.max(axis=1, keepdims=True)
    expected = sum(logp[k, t] for k, t in enumerate(seq))
    ends = end_token_ids(transcriber.tokenizer)
    assert ends[0] == EOS_ID and len(ends) == 4
    expected += np.log(np.exp(logp[len(seq), ends]).sum())
    assert scorer.score(states, [seq])[0].total == pytest.approx(expected, abs=1e-3)


def test_the_spoken_sentence_outscores_a_wrong_slot(scored):
    transcriber, scorer, states = scored
    right, wrong = scorer.score(states, [transcriber.tokenizer.encode(SENTENCES[0]),
                                         transcriber.tokenizer.encode(SENTENCES[2])])
    assert right.normalized() > wrong.normalized() + 1.0
