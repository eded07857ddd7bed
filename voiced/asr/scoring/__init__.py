"""Teacher-forced scoring: how well does each of several given sentences fit an utterance's audio?

    scorer = transcriber.scorer(int8=True, prune=Pruning())  # chosen, checked and logged once
    scores = scorer.score(transcriber.encoder_states(), [tokenizer.encode(s) for s in sentences])

The rescorer (voiced.rescoring) asks this of grammar sentences. The sentences run on the
recogniser's own decoder and on the encoder states it already computed; how they run (a token
tree, a batch, pruned; 8-bit or float) is decided once, when the scorer is built (scorer.py),
from the ways in steps.py.
"""
from voiced.asr.scoring.growth import Growth
from voiced.asr.scoring.scorer import SequenceScorer, Steps, choose_steps, transcript_score
from voiced.asr.scoring.steps import Pruning, ScoringError, SequenceScore

__all__ = ["Growth", "Pruning", "ScoringError", "SequenceScore", "SequenceScorer", "Steps", "choose_steps", "transcript_score"]
