"""How the recogniser writes the grammar's words: the token sequences of each phrase.

Moonshine writes sentence case ("Turn on the kitchen light."), names capitalised ("New York",
"TV"), contractions ("What's the weather?"), digits for many numbers ("Set a timer for 30
seconds.", "50%"). A phrase of the grammar therefore has several spellings, and the search
lets the audio choose; each is kept only when the matcher normalises it back to the words the
grammar wrote (voiced.grammar.normalize.tokenize), so any spelling the search picks parses as
the grammar's own words.

* the template's words: as written, plus the first letter capitalised when they open the
  sentence; "what is" may be "what's" and "percent" "%" (glued to the number before it);
* a slot list's forms are names: also Title Case, and all capitals when every word is short
  ("TV");
* a number: digits, words ("twenty one", "twenty-one"), as the sentence's first word capitalised.

Moonshine's tokenizer (SentencePiece BPE) starts every word with "▁" and never merges across
words, so a phrase's tokens are its words' tokens in a row (checked for the shipped grammar's
sentences); a glued piece ("%") is the tokens it adds to the word before it.
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from voiced.asr.constrained.automaton import Said, Trie
from voiced.grammar.normalize import CONTRACTIONS, tokenize
from voiced.grammar.numbers import parse_number, to_words

Piece = Tuple[str, bool]
"""(text, glued to the piece before it)"""
Form = Tuple[Piece, ...]

_EDGE = re.compile(r"^[^\w']+|[^\w'%]+$")
_CONTRACTED: Dict[Tuple[str, str], str] = {}
for _short, _long in CONTRACTIONS.items():
    if "'" in _short and len(_long.split()) == 2:
        _CONTRACTED.setdefault(tuple(_long.split()), _short)  # ("what", "is") -> "what's"
GLUED = {"percent": "%"}
"""words the recogniser writes as a symbol on the number before them"""
SHORT = 3
"""a name whose words are all this short may be written in capitals ("TV")"""


def words_of(text: str) -> List[str]:
    """The words of a template's Words node as written, edge punctuation dropped."""
    out = []
    for raw in text.split():
        word = _EDGE.sub("", raw)
        if word and tokenize(word):
            out.append(word)
    return out


def surface(form: Form) -> str:
    """The text a form writes."""
    return "".join(("" if glued or k == 0 else " ") + text for k, (text, glued) in enumerate(form))


class Speller:
    """Token sequences of phrases for one tokenizer; results are cached per phrase."""

    def __init__(self, tokenizer):
        self._encode = tokenizer.encode
        self._glue_base = tuple(tokenizer.encode("a"))
        self._words: Dict[str, Tuple[int, ...]] = {}
        self._phrases: Dict[Tuple[Tuple[str, ...], bool], Tuple[Trie, Trie]] = {}

    def tokens(self, form: Form) -> Tuple[int, ...]:
        out: List[int] = []
        for text, glued in form:
            out.extend(self._glued(text) if glued else self._word(text))
        return tuple(out)

    def _word(self, text: str) -> Tuple[int, ...]:
        found = self._words.get(text)
        if found is None:
            found = self._words[text] = tuple(self._encode(text))
        return found

    def _glued(self, text: str) -> Tuple[int, ...]:
        key = "\0" + text
        found = self._words.get(key)
        if found is None:
            both = tuple(self._encode("a" + text))
            if both[:len(self._glue_base)] != self._glue_base:
                raise ValueError(f"{text!r} does not tokenize apart from the word before it")
            found = self._words[key] = both[len(self._glue_base):]
        return found

    # --- phrases --------------------------------------------------------------------------

    def phrase(self, words: Sequence[str], names: bool = False) -> Tuple[Trie, Trie]:
        """(inside a sentence, as its first words) tries of a phrase said as is; `names` adds
        the spellings of names."""
        key = (tuple(words), names)
        found = self._phrases.get(key)
        if found is None:
            found = self._phrases[key] = self.tries([(words, None)], names)
        return found

    def tries(self, phrases: Iterable[Tuple[Sequence[str], Optional[Said]]], names: bool) -> Tuple[Trie, Trie]:
        """(inside, first) tries holding every spelling of every phrase, each ending in its Said."""
        inside, first = Trie(), Trie()
        for words, said in phrases:
            forms = spellings(words, names)
            for form in forms:
                inside.add(self.tokens(form), said)
                first.add(self.tokens(form), said)
            for form in forms:
                first.add(self.tokens(capitalised(form)), said)
        return inside, first

    def numbers(self, numbers: Iterable[Tuple[float, Said]]) -> Tuple[Trie, Trie]:
        """Tries of numbers said in digits or in words; `numbers` gives each number as said
        and what it says."""
        inside, first = Trie(), Trie()
        for number, said in numbers:
            for form in number_forms(number):
                inside.add(self.tokens(form), said)
                first.add(self.tokens(form), said)
                first.add(self.tokens(capitalised(form)), said)
        return inside, first


def spellings(words: Sequence[str], names: bool = False) -> List[Form]:
    """The ways of writing a phrase inside a sentence (see the module docstring), the
    grammar's own first; each normalises to the grammar's words."""
    base = tuple((w, False) for w in words)
    wanted = tokenize(surface(base))
    forms: List[Form] = [base]
    for k in range(len(words) - 1):
        short = _CONTRACTED.get((words[k].lower(), words[k + 1].lower()))
        if short is not None:
            forms.append(base[:k] + ((short, False),) + base[k + 2:])
    for form in list(forms):
        if any(text.lower() in GLUED for text, _ in form):
            forms.append(tuple((GLUED[t.lower()], True) if t.lower() in GLUED else (t, g) for t, g in form))
    if names:
        for form in list(forms):
            forms.append(tuple((_cap(t), g) for t, g in form))
            if all(len(t) <= SHORT for t, _ in form):
                forms.append(tuple((t.upper(), g) for t, g in form))
    return _checked(forms, wanted)


def number_forms(number: float) -> List[Form]:
    """A number in digits and in words ("21", "twenty one", "twenty-one")."""
    digits = str(int(number)) if float(number).is_integer() else repr(float(number))
    words = to_words(int(number) if float(number).is_integer() else float(number)).split()
    forms: List[Form] = [((digits, False),), tuple((w, False) for w in words)]
    hyphenated = _hyphenated(words)
    if hyphenated != words:
        forms.append(tuple((w, False) for w in hyphenated))
    return [f for f in _checked(forms, None) if _says_number(f, number)]


def capitalised(form: Form) -> Form:
    """The form as a sentence's first words: its first letter upper-case."""
    if not form:
        return form
    (text, glued), rest = form[0], form[1:]
    return ((_cap(text), glued),) + rest


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _hyphenated(words: List[str]) -> List[str]:
    from voiced.grammar.numbers import TENS, UNITS

    out: List[str] = []
    for w in words:
        if out and out[-1] in TENS and w in UNITS and 0 < UNITS[w] < 10:
            out[-1] = out[-1] + "-" + w
        else:
            out.append(w)
    return out


def _says_number(form: Form, number: float) -> bool:
    found = tokenize(surface(form))
    return len(found) == 1 and parse_number(found[0]) is not None and abs(parse_number(found[0]) - number) < 1e-9


def _checked(forms: List[Form], wanted: Optional[List[str]]) -> List[Form]:
    """Distinct forms that normalise to `wanted` (any, when None)."""
    out: List[Form] = []
    for form in dict.fromkeys(forms):
        if wanted is None or tokenize(surface(form)) == wanted:
            out.append(form)
    return out
