"""A decode that loops is read as its first turn.

Moonshine's greedy decode sometimes repeats what it heard until the token budget ends: "Next.
Next. Next. Next. Next", "Never learn. Never learn.", "Run party run party run". It happens
most where the utterance's audio runs on past the words (background noise after a short
command in a stream). The repeats are the decoder copying itself, each turn almost free, so a
looping transcript's length-normalised score rises with every turn: rescoring then found the
spoken command further below it than the same clip's single reading, and rejected it (9 of the
23 rejections of the real-command stream). The speaker said it once; the first turn, with the
recogniser's own scores up to there and the probability that it ended there, is what the
utterance said.
"""
from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, List, Optional, Sequence

if TYPE_CHECKING:
    from voiced.asr.tokenizer import Tokenizer
    from voiced.asr.transcriber import Transcript

_WORD = re.compile(r"[\w']+")
_CLOSING = re.compile(r"^\s*[.?!]+\s*$")


def words(text: str) -> List[str]:
    """The words of `text`, lower-cased, without punctuation."""
    return [w.lower() for w in _WORD.findall(text)]


def turn_length(said: Sequence[str]) -> Optional[int]:
    """The length of the shortest phrase that `said` says twice or more and nothing else (the
    token budget may cut its last word short); None when it does not loop."""
    n = len(said)
    for period in range(1, n // 2 + 1):
        if all(said[k] == said[k % period] for k in range(period, n - 1)) \
                and said[(n - 1) % period].startswith(said[-1]):
            return period
    return None


def first_turn(transcript: Transcript, tokenizer: Tokenizer) -> Transcript:
    """`transcript` itself, or, when its text loops, the transcript of the loop's first turn: its
    tokens and their log-probabilities, then the probability of ending there as the last one."""
    said = words(transcript.text)
    period = turn_length(said)
    if period is None:
        return transcript
    tokens, ends = transcript.tokens, transcript.end_logprobs
    n = _tokens_of(tokens, said[:period], tokenizer)
    if n is None or n >= len(ends) or n > len(transcript.logprobs):
        return transcript  # the text does not split at a token boundary: keep the reading as it is
    return dataclasses.replace(transcript, text=tokenizer.decode(tokens[:n]).strip(), tokens=list(tokens[:n]),
                               logprobs=list(transcript.logprobs[:n]) + [ends[n]], end_logprobs=list(ends[:n + 1]))


def _tokens_of(tokens: Sequence[int], turn: List[str], tokenizer: Tokenizer) -> Optional[int]:
    """How many tokens spell `turn`, with the punctuation that closes it ("Never learn.")."""
    target = " ".join(turn)
    for n in range(1, len(tokens) + 1):
        heard = " ".join(words(tokenizer.decode(tokens[:n])))
        if heard == target:
            while n < len(tokens) and _CLOSING.match(tokenizer.decode(tokens[n:n + 1])):
                n += 1
            return n
        if not target.startswith(heard):
            return None
    return None
