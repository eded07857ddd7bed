"""Grammar-aware rescoring: the recogniser's decoder scores grammar-consistent sentences.

    from voiced.rescoring import Rescorer
    rescorer = Rescorer(transcriber, matcher, config.rescoring)
    result = rescorer.decide(match, transcript, transcriber.encoder_states())  # result.decided_by
"""
from voiced.rescoring.rescorer import (
    FUZZY,
    RESCORING,
    Evaluation,
    RescoredResult,
    Rescorer,
    make_rescorer,
)

__all__ = ["FUZZY", "RESCORING", "Evaluation", "RescoredResult", "Rescorer", "make_rescorer"]
