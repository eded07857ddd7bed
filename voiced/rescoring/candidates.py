"""The short list of grammar-consistent sentences the speaker may have said.

Starts from the matcher's own candidates (the best parses of the best few intents, each with
the closest slot values in the span it aligned) and adds, for every slot whose span was not
an exact hit, the list values that are closest to the heard words by spelling or by sound
(Matcher.closest_values: rapidfuzz ratio of the words and of a crude phonetic key), with
no similarity floor: a value the recogniser turned into an unrelated word is exactly the case
the matcher cannot recover, so its floor must not apply here.

Each sentence is then written the way the recogniser writes (see `Restyler`), so that the
decoder scores the words and not differences of casing, contractions or digits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from voiced.grammar.address import AddressWords
from voiced.grammar.matcher import SlotMatch
from voiced.grammar.normalize import remove_skip_words, tokenize
from voiced.rescoring.carriers import CarrierRenderer
from voiced.rescoring.neighbours import SentenceIndex

CARRIERS_PER_READING = 2
"""other templates tried per parse: the two sharing most words with the transcript"""
_EDGE_PUNCT = re.compile(r"^[^\w']+|[^\w'%]+$")
_LEADING_PUNCT = re.compile(r"^[^\w']+")
_ADDRESS_HEAD_WORDS = 6
"""words an address may take at the start of a transcript ("Hey computer, could you please")"""


@dataclass(frozen=True)
class Reading:
    """One grammar-consistent interpretation and the sentence that says it."""

    intent: str
    slots: Dict[str, Any]
    """slot name -> voiced.grammar.SlotMatch"""
    sentence: str
    """normalised words (the grammar's spelling)"""
    text_confidence: float
    """the matcher's confidence for this sentence against the transcript (0-1)"""
    template: str = ""
    source: str = "parse"
    """"parse" (a matcher candidate), "carrier" (another template), "slot" (another value),
    "sentence" (a grammar sentence that sounds like the transcript) or "grammar" (found by the
    grammar-constrained decoder)"""
    spans: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    addressed: bool = False
    """the utterance (or, from the grammar-constrained search, the sentence) opened with an address word"""

    @property
    def key(self) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        """What a consumer of the intent sees: readings with equal keys are the same answer."""
        return self.intent, tuple(sorted((k, str(s.value)) for k, s in self.slots.items()))


def build_readings(matcher, text: str, limit: int, values_per_slot: int = 4, floor: float = 0.3,
                   lists: Optional[Dict[Tuple[str, str], str]] = None,
                   carriers: Optional[CarrierRenderer] = None) -> List[Reading]:
    """At most `limit` distinct sentences: the matcher's parses first, then the same readings
    said with the intent's other templates, then the closest other values of uncertain slots."""
    lists = lists if lists is not None else matcher.slot_lists()
    carriers = carriers if carriers is not None else CarrierRenderer(matcher.grammar)
    tokens = matcher.tokens(text)
    parses = matcher.candidates(text, limit=limit, floor=floor)
    readings: List[Reading] = []
    seen = set()

    def add(r: Reading) -> None:
        if r.sentence not in seen and len(readings) < limit:
            seen.add(r.sentence)
            readings.append(r)

    for c in parses:
        add(Reading(c.intent, dict(c.slots), c.sentence, c.confidence, c.template, "parse", dict(c.spans)))
    for r in readings[:len(readings)]:  # the parses only: add() appends to `readings`
        words = {name: m.raw for name, m in r.slots.items() if m.raw}
        fixed = {name: m.value for name, m in r.slots.items() if not m.raw}
        for sentence, template in carriers.alternatives(r.intent, words, fixed, tokens, CARRIERS_PER_READING):
            add(Reading(r.intent, dict(r.slots), sentence, r.text_confidence, template, "carrier", dict(r.spans)))
    for c in parses:
        for alt in _slot_alternatives(matcher, c, tokens, lists, values_per_slot):
            add(alt)
    for r in [r for r in readings if r.source == "parse"]:
        for alt in _added_slot(matcher, r, tokens, lists, carriers, values_per_slot):
            add(alt)
    # Filtered last: the other templates and slot values above start from every parse.
    return _addressed(_saying(matcher, readings), matcher.addressed(text))


def _saying(matcher, readings: List[Reading]) -> List[Reading]:
    """`readings` but those of only optional words, which are no command (Matcher.says_something);
    the grammar-constrained search never finishes one."""
    return [r for r in readings if matcher.says_something(r.intent, r.template, r.slots)]


def _addressed(readings: List[Reading], addressed: bool) -> List[Reading]:
    return [replace(r, addressed=True) for r in readings] if addressed else readings


def neighbour_readings(matcher, index: SentenceIndex, text: str, count: int,
                       exclude: Sequence[Reading] = ()) -> List[Reading]:
    """Up to `count` readings from the grammar sentences that sound closest to all of `text`,
    other than the sentences of `exclude`."""
    said = {r.sentence for r in exclude}
    found = index.nearest(matcher.tokens(text), count + len(said))
    out = [Reading(n.intent, n.slots, n.sentence, n.similarity, n.template, "sentence")
           for n in found if n.sentence not in said]
    return _addressed(_saying(matcher, out)[:count], matcher.addressed(text))


def grammar_readings(found: Sequence[Any], tokenizer,
                     address: Optional[AddressWords] = None) -> List[Tuple[Reading, str, Any]]:
    """(reading, sentence as the recogniser wrote it, its score) of each sentence of the
    grammar-constrained search (voiced.asr.constrained.Sentence): the decoder chose the
    spelling, so it is not restyled, and the search's score is its teacher-forced score. The
    reading's words leave out the address word the sentence opens with (`address`)."""
    out: List[Tuple[Reading, str, Any]] = []
    for sentence in found:
        text = tokenizer.decode(sentence.tokens)
        slots = {name: SlotMatch(said.value, " ".join(tokenize(said.spoken)), 1.0, said.spoken or None)
                 for name, said in sentence.slots.items()}
        words = tokenize(text)
        addressed = bool(getattr(sentence, "addressed", False))
        if addressed and address is not None:
            words = words[address.head(words):]
        reading = Reading(sentence.intent, slots, " ".join(words), 0.0, sentence.template, "grammar",
                          addressed=addressed)
        out.append((reading, text, sentence.score))
    return out


def _added_slot(matcher, r: Reading, tokens: List[str], lists: Dict[Tuple[str, str], str],
                carriers: CarrierRenderer, keep: int) -> List[Reading]:
    """Readings of `r` said with a template that has one more slot ("what is the temperature"
    -> "what is the temperature in the {zone}"), filled with the list values closest to the
    words the parse left unused: the matcher drops a slot whose words it could not place."""
    covered = {i for a, b in r.spans.values() for i in range(a, b)}
    free = [i for i in range(len(tokens)) if i not in covered]
    if not free:
        return []
    words = {name: m.raw or str(m.spoken or m.value) for name, m in r.slots.items()}
    fixed = {name: m.value for name, m in r.slots.items() if not m.raw}
    heard = [" ".join(tokens[i:j]) for i in free for j in range(i + 1, min(len(tokens), i + 3) + 1)
             if all(k in free for k in range(i, j))]
    out: List[Reading] = []
    for (intent, name), list_name in lists.items():
        if intent != r.intent or name in r.slots:
            continue
        for close in matcher.closest_values(list_name, heard, keep, distinct=True):
            said = {**words, name: close.spoken}
            for sentence, template in carriers.alternatives(intent, said, fixed, tokens, 1):
                slots = dict(r.slots)
                slots[name] = SlotMatch(close.value, close.spoken, close.similarity)
                out.append(Reading(intent, slots, sentence, r.text_confidence, template, "slot", dict(r.spans)))
    out.sort(key=lambda x: -min(s.confidence for s in x.slots.values()))
    return out


def _slot_alternatives(matcher, c, tokens: List[str], lists: Dict[Tuple[str, str], str],
                       keep: int) -> List[Reading]:
    """Readings of candidate `c` with one uncertain slot replaced by its closest other values."""
    out: List[Reading] = []
    for name, match in c.slots.items():
        span = c.spans.get(name)
        if span is None or match.confidence >= 1.0 or not match.raw:
            continue  # exact hits have nothing better to offer (numbers and wildcards list no forms)
        heard = " ".join(tokens[span[0]:span[1]])
        for close in matcher.closest_values(lists.get((c.intent, name), ""), [heard], keep + 1):
            if close.spoken == match.raw:
                continue
            sentence = _replace_words(c.sentence, match.raw, close.spoken)
            if sentence is None:
                continue
            slots = dict(c.slots)
            slots[name] = type(match)(close.value, close.spoken, close.similarity, span=match.span)
            out.append(Reading(c.intent, slots, sentence, c.confidence, c.template, "slot", dict(c.spans)))
    out.sort(key=lambda r: -min(s.confidence for s in r.slots.values()))
    return out


def _replace_words(sentence: str, old: str, new: str) -> Optional[str]:
    """`sentence` with the first whole-word occurrence of `old` replaced by `new`."""
    words, target = sentence.split(), old.split()
    for i in range(len(words) - len(target) + 1):
        if words[i:i + len(target)] == target:
            return " ".join(words[:i] + new.split() + words[i + len(target):])
    return None


class Restyler:
    """Writes normalised sentences as the recogniser wrote `transcript`: its casing,
    contractions and digits ("what is" -> "What's" when it said "What's"), first letter upper-case.

    Word n-grams (up to 3) of the transcript whose normalised form differs from their plain
    lower-case spelling are substituted back, longest first. Skip words (`skip`, as compiled by
    the matcher) that open or close the transcript are kept around the sentence, and so is the
    address word that opens it (`address`, the matcher's), as written ("Computer, please"): the
    sentences are scored against audio that says it. Built once per utterance: the transcript's
    n-grams and edges are the costly part, not the sentences.
    """

    def __init__(self, transcript: str, skip: Sequence[Tuple[str, ...]] = (),
                 address: Optional[AddressWords] = None):
        words = [w for w in (_EDGE_PUNCT.sub("", raw) for raw in transcript.split()) if w]
        self._styles: Dict[Tuple[str, ...], str] = {}
        for n in (3, 2, 1):
            for i in range(len(words) - n + 1):
                original = " ".join(words[i:i + n])
                norm = tuple(tokenize(original))
                if i == 0 and " ".join(norm) == original.lower():
                    continue  # the first word is upper-case because it is first, not a name
                if norm and " ".join(norm) != original and norm not in self._styles:
                    self._styles[norm] = original
        self._prefix, self._suffix = _skip_edges(words, skip)
        head = _address_head(transcript, address) if address else []
        if head:
            self._prefix = head

    def __call__(self, sentence: str) -> str:
        tokens = sentence.split()
        out: List[str] = []
        i = 0
        while i < len(tokens):
            for n in (3, 2, 1):
                key = tuple(tokens[i:i + n])
                if len(key) == n and key in self._styles:
                    out.append(self._styles[key])
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        if out and self._prefix and self._prefix[-1][-1:] in ".!?":  # "Computer. Lock the front door."
            out[0] = out[0][:1].upper() + out[0][1:]
        text = " ".join(self._prefix + out + self._suffix)
        return text[:1].upper() + text[1:]


def _address_head(transcript: str, address: AddressWords) -> List[str]:
    """The transcript's opening words that say the address word (with an opener and skip words
    around it), as written: "Computer," keeps its comma, which the recogniser wrote there."""
    raw = transcript.split()
    for n in range(min(len(raw) - 1, _ADDRESS_HEAD_WORDS), 0, -1):
        tokens = tokenize(" ".join(raw[:n]))
        if tokens and address.head(tokens) == len(tokens):
            head = [_LEADING_PUNCT.sub("", raw[0])] + raw[1:n]
            return [w for w in head if w]
    return []


def _skip_edges(words: List[str], skip: Sequence[Tuple[str, ...]]) -> Tuple[List[str], List[str]]:
    """The transcript's leading and trailing words that are all skip words ("would you please"):
    the grammar allows them anywhere, so a sentence is not penalised for the speaker saying them."""
    if not skip:
        return [], []

    def skippable(part: List[str]) -> bool:
        tokens = tokenize(" ".join(part))
        return bool(tokens) and not remove_skip_words(tokens, skip)

    head = max((n for n in range(len(words)) if skippable(words[:n])), default=0)
    tail = max((n for n in range(len(words) - head) if skippable(words[len(words) - n:])), default=0)
    return words[:head], words[len(words) - tail:] if tail else []
