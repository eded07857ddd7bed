"""The optional address word ("computer, unlock the front door").

There is no wake word: voiced acts on every utterance its grammar matches. A grammar may name
address words (`address: {words: [computer], required: false}`) that the speaker says first in
the same utterance; the same recogniser hears them and the matcher reads them off the start of
what was heard, fuzzily like every other word, after an opener ("hey computer", "ok computer")
and around skip words and punctuation. With `required: true` no command is recognized without
it; an intent with `requires_address: true` (unlocking doors, disarming alarms) needs it
whatever `required` says. Results say whether the utterance was addressed (`addressed`).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

from voiced.errors import Problem
from voiced.grammar.model import Grammar
from voiced.grammar.normalize import remove_skip_words, tokenize
from voiced.grammar.similarity import similarity

OPENERS = (("hey",), ("ok",), ("okay",), ("hi",), ("hello",))
"""what people say before a name they address, dropped with it"""
HEAD_TOKENS = 8
"""the most words an address with its opener and skip words takes ("hey computer could you please")"""
SIMILARITY = 0.8
"""how alike the heard words and an address word must be (0-1, spelling or sound): "computers"
(0.94), "compute" (0.93) and "commuter" (0.88) are; "commute" (0.8) is just; "come here" is not"""


class AddressWords:
    """The address words of a grammar, compiled for reading them off an utterance's tokens."""

    def __init__(self, words: Sequence[str], skip: Sequence[Tuple[str, ...]] = ()):
        self.skip = list(skip)
        # As the matcher sees them: "hey jarvis" is "jarvis" when "hey" is a skip word.
        phrases = {tuple(remove_skip_words(tokenize(w), self.skip)) for w in words}
        self.phrases: List[Tuple[str, ...]] = sorted((p for p in phrases if p), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def words(self) -> List[str]:
        """Every word of the address phrases (for the matcher's fused-word repair)."""
        return sorted({w for p in self.phrases for w in p})

    def split(self, tokens: Sequence[str]) -> Tuple[int, bool]:
        """(how many leading `tokens` say the address, whether they do). `tokens` are the
        matcher's: normalised, skip words removed. An opener counts only before an address word."""
        if not self.phrases or not tokens:
            return 0, False
        for start in (0, 1):
            if start and tuple(tokens[:1]) not in OPENERS:
                break
            said = self._said(tokens, start)
            if said:
                end = start + said
                while self._said(tokens, end):  # "Computer, computer, ...": recognisers repeat a short word
                    end += self._said(tokens, end)
                return end, True
        return 0, False

    def strip(self, tokens: Sequence[str]) -> Tuple[List[str], bool]:
        """The tokens after the address, and whether there was one."""
        n, addressed = self.split(tokens)
        return list(tokens[n:]), addressed

    def head(self, tokens: Sequence[str]) -> int:
        """How many leading tokens, with skip words kept (a decoded sentence, a transcript), say
        the address and the skip words around it; 0 when it is not addressed."""
        for n in range(min(len(tokens), HEAD_TOKENS), 0, -1):
            part = remove_skip_words(tokens[:n], self.skip)
            said, addressed = self.split(part)
            if addressed and said == len(part):
                return n
        return 0

    def _said(self, tokens: Sequence[str], start: int) -> int:
        """How many tokens from `start` say an address phrase, the closest one (0: none)."""
        best, length = 0.0, 0
        for phrase in self.phrases:
            if start + len(phrase) > len(tokens):
                continue
            score = similarity(" ".join(tokens[start:start + len(phrase)]), " ".join(phrase))
            if score >= SIMILARITY and score > best:
                best, length = score, len(phrase)
        return length


def check(grammar: Grammar, origins: Dict[Tuple[str, str], Tuple[str, int]]) -> List[Problem]:
    """An address that is required, or that an intent requires, needs words to be said with."""
    if grammar.address.words:
        return []
    out: List[Problem] = []
    if grammar.address.required:
        file, line = origins[("address", "required")]
        out.append(Problem("address.required is true but no address words are defined", file=file, line=line,
                           key="address.required", hint="add address: {words: [computer]}"))
    for name, intent in grammar.intents.items():
        if intent.requires_address and ("requires_address", name) in origins:
            file, line = origins[("requires_address", name)]
            out.append(Problem(f"intent {name} requires the address word but the grammar defines none", file=file,
                               line=line, key=f"intents.{name}.requires_address",
                               hint="add address: {words: [computer]} to a command file, or remove this key"))
    return out


def describe(grammar: Grammar) -> Optional[str]:
    """One line for `voiced check-config`: the address words and who needs them; None without."""
    words = grammar.address.words
    if not words:
        return None
    if grammar.address.required:
        return f"address {', '.join(repr(w) for w in words)} (required)"
    needing = [name for name, intent in grammar.intents.items() if intent.requires_address]
    return (f"address {', '.join(repr(w) for w in words)} (not required"
            + (f"; needed by {', '.join(needing)})" if needing else ")"))


def needed(grammar: Grammar, intent: Optional[str]) -> Optional[str]:
    """Why a reading of `intent` said without the address word is not recognized; None when it
    may be."""
    words = grammar.address.words
    if not words:
        return None
    said = " or ".join(repr(w) for w in words[:3])
    if grammar.address.required:
        return f"not addressed: say {said} first"
    if intent is not None and intent in grammar.intents and grammar.intents[intent].requires_address:
        return f"not addressed: {intent} needs {said} first"
    return None


def settled(match, grammar: Grammar) -> bool:
    """Whether `match` (a MatchResult) stands whatever a second stage finds: the address word is
    required and the transcript did not say it, and nothing counts as addressed that the
    recogniser did not hear (so rescoring room talk is wasted work)."""
    return grammar.address.required and bool(grammar.address.words) and not match.addressed


def apply(result, addressed: bool, grammar: Grammar):
    """`result` (a MatchResult) with `addressed` set, and not recognized when its intent needs the
    address word and the utterance did not say it. The best reading stays as the first guess."""
    result.addressed = addressed
    if not result.recognized or addressed:
        return result
    reason = needed(grammar, result.intent)
    if reason is None:
        return result
    guess = (result.intent, result.confidence, result.slots)
    return dataclasses.replace(result, recognized=False, intent=None, slots={}, template=None, reason=reason,
                               alternatives=[guess] + list(result.alternatives))
