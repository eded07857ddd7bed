"""Text normalisation applied identically to utterances and to template words.

Case, punctuation, contractions ("what's" -> "what is"), hyphens ("twenty-one"), symbols
("50%" -> "50 percent") and spoken numbers ("twenty one" -> "21", "two and a half" -> "2.5")
all collapse to one form, so the matcher compares like with like.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import AbstractSet, Callable, Iterable, List, Optional, Sequence, Tuple

from rapidfuzz import fuzz, process

from voiced.grammar.numbers import NUMBER_WORDS, number_groups, words_to_digits

# Recognisers drop the apostrophe as often as they keep it, so both spellings are listed.
CONTRACTIONS = {
    "what's": "what is", "whats": "what is", "where's": "where is", "wheres": "where is",
    "how's": "how is", "hows": "how is", "who's": "who is", "when's": "when is",
    "that's": "that is", "thats": "that is", "there's": "there is", "theres": "there is",
    "it's": "it is", "here's": "here is", "let's": "let us", "lets": "let us",
    "i'm": "i am", "im": "i am", "you're": "you are", "we're": "we are", "they're": "they are",
    "i've": "i have", "you've": "you have", "we've": "we have", "i'd": "i would",
    "you'd": "you would", "i'll": "i will", "you'll": "you will", "we'll": "we will",
    "don't": "do not", "dont": "do not", "doesn't": "does not", "doesnt": "does not",
    "didn't": "did not", "isn't": "is not", "isnt": "is not", "aren't": "are not",
    "wasn't": "was not", "can't": "can not", "cant": "can not", "cannot": "can not",
    "won't": "will not", "wont": "will not", "shouldn't": "should not", "couldn't": "could not",
    "wouldn't": "would not",
}
# Words a recogniser drops or adds without changing the meaning; skipping them costs less.
# ("on" and "off" are not among them: they are the whole point of many commands.)
FUNCTION_WORDS = frozenset("the a an of to in at my for me is are and please some all with".split())
SYMBOLS = {"%": " percent ", "°": " degrees ", "&": " and ", "+": " plus "}
# Units recognisers write short ("a 12 oz latte", "5 mins"): read as the grammar's own word
# for them, when it has one and not the abbreviation itself.
UNITS = {
    "oz": ("ounce", "ounces"), "lb": ("pound", "pounds"), "lbs": ("pounds", "pound"),
    "min": ("minute", "minutes"), "mins": ("minutes", "minute"), "sec": ("second", "seconds"),
    "secs": ("seconds", "second"), "hr": ("hour", "hours"), "hrs": ("hours", "hour"),
    "ft": ("feet", "foot"), "tsp": ("teaspoon", "teaspoons"), "tbsp": ("tablespoon", "tablespoons"),
}
_SYMBOL_RE = re.compile("|".join(re.escape(s) for s in SYMBOLS))
# Letters, digits, apostrophes inside words and decimal points inside numbers survive.
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)*(?:\.[0-9]+)?")
_DIGIT_ALPHA_RE = re.compile(r"(?<=[0-9])(?=[a-z])|(?<=[a-z])(?=[0-9])")
Span = Tuple[int, int]  # characters [start, end) of a text


def tokenize(text: str, known: Optional[AbstractSet[str]] = None, numbers: bool = True) -> List[str]:
    """Lower-case word tokens with contractions expanded and numbers as digits.

    With `known` (the words a grammar uses), unknown words are repaired the way recognisers
    break them: fused words are split ("toninety" -> "to ninety") and, with `numbers`, misspelt
    number words corrected ("twenrty" -> "twenty"), so that numbers still parse.
    """
    tokens = _words(text)
    if known is not None:
        tokens = _repair(tokens, known, numbers)
    return _and_a_half(words_to_digits(tokens))


def _words(text: str) -> List[str]:
    """The words of `text`, lower-cased, with symbols spelt out and contractions expanded."""
    text = _SYMBOL_RE.sub(lambda m: SYMBOLS[m.group(0)], text.lower())
    text = text.replace("’", "'")
    text = _DIGIT_ALPHA_RE.sub(" ", text)  # "5min" -> "5 min", "21c" -> "21 c"
    tokens: List[str] = []
    for raw in _TOKEN_RE.findall(text.replace("-", " ").replace("_", " ")):
        expanded = CONTRACTIONS.get(raw)
        if expanded:
            tokens.extend(expanded.split())
        else:
            # possessives: "today's" -> "todays"; "0'a" splits like "0a" (digits and letters apart)
            tokens.extend(_DIGIT_ALPHA_RE.sub(" ", raw.replace("'", "")).split())
    return tokens


def tokenize_spans(text: str, known: Optional[AbstractSet[str]] = None,
                   numbers: bool = True) -> List[Tuple[str, Span]]:
    """`tokenize(text, known, numbers)` with, for each token, the characters [start, end) of
    `text` it was read from: "Set the bed-light to twenty one." -> ("set", (0, 3)), ...,
    ("light", (12, 17)), ("to", (18, 20)), ("21", (21, 31)).

    No normalisation step crosses white space except the number words, so each white-space
    separated piece of `text` is read on its own and a number spans the pieces it was said in.
    A token that cannot be found in its piece verbatim ("what's" -> "what is") spans the piece.
    """
    words: List[str] = []
    spans: List[Span] = []
    for piece in re.finditer(r"\S+", text):
        found = _words(piece.group())
        words.extend(found)
        spans.extend(_piece_spans(piece.group(), piece.start(), found))
    if known is not None:
        located = [(w, span) for word, span in zip(words, spans) for w in _repair_one(word, known, numbers)]
        words, spans = [w for w, _ in located], [span for _, span in located]
    out: List[Tuple[str, Span]] = []
    for token, i, j in _halves(number_groups(words)):
        out.append((token, (spans[i][0], spans[j - 1][1])))
    return out


_EDGE_RE = re.compile(r"^[^\w%°&+]+|[^\w%°&+]+$")


def _piece_spans(piece: str, offset: int, words: Sequence[str]) -> List[Span]:
    """Where each of `words` (read from `piece`, which starts at `offset`) is in the text."""
    trimmed = _EDGE_RE.sub(lambda m: " " * len(m.group()), piece)
    whole = (offset + len(trimmed) - len(trimmed.lstrip()), offset + len(trimmed.rstrip()))
    lowered = piece.lower().replace("’", "'")
    if len(lowered) != len(piece):  # a character whose lower case is longer: no position within
        return [whole] * len(words)
    spans: List[Span] = []
    at = 0
    for word in words:
        k = lowered.find(word, at)
        if k < 0:
            spans.append(whole)
        else:
            spans.append((offset + k, offset + k + len(word)))
            at = k + len(word)
    return spans


def _and_a_half(tokens: List[str]) -> List[str]:
    """ "2 and a half" -> "2.5": how people say the halves of a range with `fractions: halves`."""
    return [token for token, _, _ in _halves([(t, i, i + 1) for i, t in enumerate(tokens)])]


def _halves(groups: List[Tuple[str, int, int]]) -> List[Tuple[str, int, int]]:
    """`_and_a_half` over (token, first, end) groups of source words; merged groups span all theirs."""
    out: List[Tuple[str, int, int]] = []
    i = 0
    while i < len(groups):
        tok, start, end = groups[i]
        if tok.isdigit() and [g[0] for g in groups[i + 1:i + 4]] == ["and", "a", "half"]:
            out.append((tok + ".5", start, groups[i + 3][2]))
            i += 4
            continue
        out.append(groups[i])
        i += 1
    return out


def _repair(tokens: List[str], known: AbstractSet[str], numbers: bool = True) -> List[str]:
    return [out for tok in tokens for out in _repair_one(tok, known, numbers)]


def _repair_one(tok: str, known: AbstractSet[str], numbers: bool) -> List[str]:
    if tok in known or not tok.isalpha():
        return [tok]
    unit = next((word for word in UNITS.get(tok, ()) if word in known), None)
    if unit is not None:
        return [unit]
    if len(tok) < 4:
        return [tok]
    split = _split_known(tok, known)
    if split:
        return split
    if numbers and len(tok) >= 5:
        found = process.extractOne(tok, NUMBER_WORDS, scorer=fuzz.ratio, score_cutoff=80)
        if found:
            return [found[0]]
    return [tok]


def _split_known(tok: str, known: AbstractSet[str]) -> Optional[List[str]]:
    """Two known words that `tok` is the fusion of, the most even split first."""
    cuts = sorted(range(2, len(tok) - 1), key=lambda k: abs(len(tok) - 2 * k))
    for k in cuts:
        if tok[:k] in known and tok[k:] in known:
            return [tok[:k], tok[k:]]
    return None


def plain_words(tokens: Sequence[str], plain: Sequence[str]) -> Callable[[int, int], str]:
    """`(start, end)` of `tokens` -> the same stretch of `plain`, the utterance tokenised without
    the number-word repair (`tokenize(..., numbers=False)`). Free text (a wildcard slot) is read
    from it: the repair that lets "twenrty" parse as 20 also turns "flour" into 4."""
    if list(tokens) == list(plain):
        return lambda i, j: " ".join(tokens[i:j])
    where: List[Tuple[int, int]] = [(0, 0)] * len(tokens)  # token -> its stretch of plain
    for op, i1, i2, j1, j2 in SequenceMatcher(None, list(tokens), list(plain), autojunk=False).get_opcodes():
        for t in range(i1, i2):
            where[t] = (j1 + t - i1, j1 + t - i1 + 1) if op == "equal" else (j1, j2)

    def words(i: int, j: int) -> str:
        lo = min(where[t][0] for t in range(i, j))
        hi = max(where[t][1] for t in range(i, j))
        return " ".join(plain[lo:hi]) if hi > lo else " ".join(tokens[i:j])

    return words


def normalize(text: str) -> str:
    """The normalised form of `text` as one space-separated string."""
    return " ".join(tokenize(text))


def compile_skip_words(skip_words: Iterable[str]) -> List[Tuple[str, ...]]:
    """Skip phrases as token tuples, longest first so "could you please" beats "could you"."""
    phrases = {tuple(tokenize(w)) for w in skip_words}
    return sorted((p for p in phrases if p), key=len, reverse=True)


def remove_skip_words(tokens: Sequence[str], skip: Sequence[Tuple[str, ...]]) -> List[str]:
    """Drop every occurrence of a skip phrase from a token list."""
    if not skip:
        return list(tokens)
    return [tokens[i] for i in kept_indices(tokens, skip)]


def kept_indices(tokens: Sequence[str], skip: Sequence[Tuple[str, ...]]) -> List[int]:
    """The positions of the tokens `remove_skip_words` keeps, in order."""
    out: List[int] = []
    i = 0
    while i < len(tokens):
        for phrase in skip:
            if tuple(tokens[i:i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            out.append(i)
            i += 1
    return out
