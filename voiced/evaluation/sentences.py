"""Commands sampled from the grammar, with their labels known by construction.

The sampler is voiced.grammar.sample's, with numbers as people say them (spelled out, half of
them round) since the text is synthesised to speech. The label is the intent plus the
canonical value behind each spoken form.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from voiced.grammar.sample import SPOKEN, Sampler


class CommandSampler:
    """Draws (text, intent, slots) from a Grammar; every draw uses the given numpy Generator."""

    def __init__(self, grammar: Any):
        self.grammar = grammar
        self._sampler = Sampler(grammar, SPOKEN)
        self.intents = self._sampler.intents

    def sample(self, rng: np.random.Generator, intent: Optional[str] = None) -> Tuple[str, str, Dict[str, Any]]:
        drawn = self._sampler.sample(rng, intent)
        return drawn.text, drawn.intent, drawn.slots
