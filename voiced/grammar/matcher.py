"""Utterance -> intent and slots, by aligning every template graph against the utterance.

Compilation parses nothing twice and expands nothing: each template becomes a small graph
(graph.py). Matching computes per-utterance word and slot-span cost tables once with
rapidfuzz, bounds each template's best possible confidence from the words it requires, and
runs the alignment DP (align.py) only on templates that could still win.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from voiced.grammar import address
from voiced.grammar.address import AddressWords
from voiced.grammar.align import (
    INF,
    OP_SLOT,
    Alignment,
    Utterance,
    align,
    deletion_costs,
    insertion_costs,
    join_costs,
    word_costs,
)
from voiced.grammar.bounds import TemplateBounds
from voiced.grammar.candidates import VALUES_PER_SLOT, Candidate, expand, path_parts
from voiced.grammar.graph import TemplateGraph, Vocabulary, compile_graphs
from voiced.grammar.model import Grammar, Value
from voiced.grammar.normalize import (
    Span,
    compile_skip_words,
    kept_indices,
    plain_words,
    remove_skip_words,
    tokenize,
    tokenize_spans,
)
from voiced.grammar.numbers import NUMBER_WORDS
from voiced.grammar.similarity import phonetic_keys, similarity_matrix
from voiced.grammar.slots import ListIndex, SlotSearch

log = logging.getLogger(__name__)
MAX_TOKENS = 40  # longer input is not a command; cap the work per utterance
ALTERNATIVES = 3
# Guesses this far below the threshold are still reported with a rejection; lower ones are
# not searched for, which keeps out-of-grammar sentences as cheap as commands.
GUESS_MARGIN = 0.15
FUZZY = "fuzzy"  # MatchResult.decided_by: the text matcher decided
RESCORING = "rescoring"  # the acoustic second stage (voiced.rescoring) decided


@dataclass(frozen=True)
class SlotMatch:
    value: Value                  # canonical value ("living_room", 21)
    raw: str                      # the words heard for it, normalised ("livingroom", "21")
    confidence: float             # similarity of what was heard to the listed value (0-1)
    spoken: Optional[str] = None  # the listed spoken form it matched ("living room")
    # characters [start, end) of the matched text its words occupy; None when the slot has no
    # words there (a template's fixed value, a value only the acoustic rescoring found)
    span: Optional[Tuple[int, int]] = field(default=None, compare=False)

    def to_dict(self) -> Dict[str, Any]:
        out = {"value": self.value, "raw": self.raw, "confidence": round(self.confidence, 3)}
        if self.spoken is not None:
            out["spoken"] = self.spoken
        return out


@dataclass(frozen=True)
class CloseValue:
    """A listed value whose spoken form is close to words asked about (Matcher.closest_values)."""

    value: Value       # canonical value ("living_room")
    spoken: str        # the listed spoken form, normalised ("living room")
    similarity: float  # by spelling or sound, to the closest of the words asked about (0-1)


@dataclass
class MatchResult:
    text: str
    recognized: bool = False
    intent: Optional[str] = None
    slots: Dict[str, SlotMatch] = field(default_factory=dict)
    confidence: float = 0.0
    template: Optional[str] = None
    reason: Optional[str] = None  # why it was not recognized
    alternatives: List[Tuple[str, float, Dict[str, SlotMatch]]] = field(default_factory=list)
    decided_by: str = FUZZY
    """"fuzzy" (the text matcher's result stands) or "rescoring" (the acoustic scores decided)"""
    rescoring: Dict[str, Any] = field(default_factory=dict)
    """gap, margin, best and free scores (normalised log-probabilities), sentence, candidates, ms"""
    addressed: bool = False
    """the utterance opened with one of the grammar's address words ("computer, ...")"""
    decision: Dict[str, Any] = field(default_factory=dict)
    """the calibrated decision (voiced.decision): features, probability p, threshold"""

    def to_dict(self) -> Dict[str, Any]:
        out = {
            "text": self.text, "recognized": self.recognized, "intent": self.intent,
            "slots": {k: v.to_dict() for k, v in self.slots.items()},
            "confidence": round(self.confidence, 3), "template": self.template, "reason": self.reason,
            "alternatives": [{"intent": i, "confidence": round(c, 3), "slots": {k: v.to_dict() for k, v in s.items()}}
                             for i, c, s in self.alternatives],
            "decided_by": self.decided_by, "addressed": self.addressed,
        }
        if self.rescoring:
            out["rescoring"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.rescoring.items()}
        if self.decision:
            out["decision"] = {k: (round(v, 3) if isinstance(v, float) else
                                   {f: round(x, 3) for f, x in v.items()} if isinstance(v, dict) else v)
                               for k, v in self.decision.items()}
        return out


class Matcher:
    """Matches utterances against a grammar. Thread-safe after construction (no mutable state)."""

    def __init__(self, grammar: Grammar, threshold: float = 0.72, tie_margin: float = 0.04,
                 slot_threshold: float = 0.8):
        self.grammar = grammar
        self.threshold = threshold
        self.tie_margin = tie_margin
        # A slot value heard this poorly (or barely ahead of another value) is a guess: the result
        # is rejected with it as a best guess, rather than acting on the wrong room or door.
        self.slot_threshold = slot_threshold
        self.skip = compile_skip_words(grammar.skip_words)
        self.vocab = Vocabulary()
        self.graphs: List[TemplateGraph] = compile_graphs(grammar, self.vocab, self.skip)
        used = {s[0] for g in self.graphs for s in g.slot if s is not None}
        carriers = frozenset(self.vocab.words)
        self.lists = {name: ListIndex.build(grammar.lists[name], self.skip, carriers) for name in sorted(used)
                      if name in grammar.lists}
        self._slot_search = SlotSearch(self.lists)
        list_words = {w for ix in self.lists.values() for form in ix.form_text for w in form.split()}
        self.address = AddressWords(grammar.address.words, self.skip)
        self._known = (frozenset(self.vocab.words) | list_words | set(NUMBER_WORDS) | {"and", "point", "a"}
                       | set(self.address.words()))
        self._keys = phonetic_keys(self.vocab.words)
        self._pair_words = [self.vocab.words[a] + self.vocab.words[b] for a, b in self.vocab.pairs]
        self._pair_keys = phonetic_keys(self._pair_words)
        self._del = deletion_costs(self.vocab.words)
        self._pair_a = np.asarray([a for a, _ in self.vocab.pairs], dtype=np.intp)
        self._pair_b = np.asarray([b for _, b in self.vocab.pairs], dtype=np.intp)
        self._bounds = TemplateBounds(self.graphs, len(self.vocab.words), sorted(self.lists))
        self._optional_only = grammar.optional_only()
        log.debug("compiled %d templates, %d words, %d lists", len(self.graphs), len(self.vocab.words),
                  len(self.lists))

    # --- public ---------------------------------------------------------------------

    def tokens(self, text: str) -> List[str]:
        """The normalised tokens the matcher sees for `text` (skip words and the address word
        that opens it removed)."""
        return self._addressed(text)[0]

    def addressed(self, text: str) -> bool:
        """Whether `text` opens with one of the grammar's address words."""
        return self._addressed(text)[1]

    def _addressed(self, text: str, numbers: bool = True) -> Tuple[List[str], bool]:
        tokens = remove_skip_words(tokenize(text, self._known, numbers=numbers), self.skip)
        rest, addressed = self.address.strip(tokens)
        return rest[:MAX_TOKENS], addressed

    def token_spans(self, text: str) -> Optional[List[Span]]:
        """The characters [start, end) of `text` each of `tokens(text)` was read from (a number
        said in words spans all of them); None in the unexpected case they cannot be placed."""
        located = tokenize_spans(text, self._known)
        kept = kept_indices([t for t, _ in located], self.skip)
        rest, _ = self.address.strip([located[i][0] for i in kept])
        kept = kept[len(kept) - len(rest):][:MAX_TOKENS]  # the address word opens it: not a slot's
        if [located[i][0] for i in kept] != self.tokens(text):
            log.warning("cannot place the words of %r in the text; slots carry no character spans", text)
            return None
        return [located[i][1] for i in kept]

    def _heard(self, text: str) -> Tuple[List[str], Callable[[int, int], str], bool]:
        """The tokens, the words of a stretch of them without the number-word repair (for
        wildcard values: "add flour" must not add 4), and whether the address word opened it."""
        plain = self._addressed(text, numbers=False)[0]
        tokens, addressed = self._addressed(text)
        return tokens, plain_words(tokens, plain), addressed

    def says_something(self, intent: str, template: Optional[str], slots: Mapping[str, Any]) -> bool:
        """False for a sentence of only optional words ("please" of "[a] [{drink}] [please]"):
        a template whose every word is optional is a command only with a slot value."""
        return bool(slots) or (intent, template) not in self._optional_only

    def match(self, text: str, intents: Optional[Collection[str]] = None) -> MatchResult:
        """The best intent for `text` (only among `intents`, when given), or why there is none."""
        tokens, plain, addressed = self._heard(text)
        return address.apply(self._match(text, tokens, plain, intents), addressed, self.grammar)

    def _match(self, text: str, tokens: List[str], plain: Callable[[int, int], str],
               intents: Optional[Collection[str]] = None) -> MatchResult:
        result = MatchResult(text=text)
        if not tokens:
            result.reason = "empty"
            return result
        ranked = self.align_all(tokens, max(0.0, self.threshold - self.tie_margin - GUESS_MARGIN), plain, intents)
        if not ranked:
            result.reason = "nothing close"
            return result
        best_conf, best = ranked[0]
        where = self.token_spans(text)
        result.alternatives = [(a.graph.intent, c, self._slots(a, tokens, where)) for c, a in ranked[:ALTERNATIVES]]
        runner_up = next((c for c, a in ranked[1:] if a.graph.intent != best.graph.intent), None)
        unsure = [best.graph.slot[node][1] for op, node, _s, _e, m in best.steps
                  if op == OP_SLOT and (m.margin < self.tie_margin or m.similarity < self.slot_threshold)]
        if best_conf < self.threshold:
            result.reason = "below threshold"
        elif runner_up is not None and best_conf - runner_up < self.tie_margin:
            result.reason = "ambiguous intent"
        elif unsure:
            result.reason = f"uncertain slot value: {', '.join(unsure)}"
        elif not self.says_something(best.graph.intent, best.graph.template.text, result.alternatives[0][2]):
            result.reason = "only optional words: no slot value"
        else:
            result.recognized = True
            result.intent = best.graph.intent
            result.slots = self._slots(best, tokens, where)
            result.confidence = best_conf
            result.template = best.graph.template.text
            result.alternatives = result.alternatives[1:]
        if not result.recognized:
            result.confidence = best_conf
        return result

    def candidates(self, text: str, limit: int = 32, floor: float = 0.3) -> List[Candidate]:
        """Sentences the speaker may have said: the best parses with their closest slot values.

        Each candidate carries the intent, slot values, the rendered sentence and the slot spans
        in the utterance's tokens; best first, at most `limit`.
        """
        tokens, plain, _addressed = self._heard(text)
        if not tokens:
            return []
        ranked = self.align_all(tokens, floor, plain)[:ALTERNATIVES]
        weighted_n = sum(insertion_costs(tokens))
        tables: Dict[str, Any] = {}
        out: List[Candidate] = []
        for _conf, a in ranked:
            parts = path_parts(a, self.vocab.words)
            options = {}
            for p in parts:
                if isinstance(p, tuple):
                    if p[1] not in tables:
                        tables[p[1]] = self.lists[p[1]].spans(tokens, keep=VALUES_PER_SLOT, plain=plain).by_start
                    for found in tables[p[1]][p[2]]:
                        if found[0].end == p[3]:
                            options[(p[1], p[2], p[3])] = found
            out.extend(expand(a, parts, options, weighted_n, limit, SlotMatch))
        where = self.token_spans(text)
        if where:  # the slot's words in the text, as a match gives them
            for c in out:
                c.slots = {name: replace(m, span=(where[c.spans[name][0]][0], where[c.spans[name][1] - 1][1]))
                           if name in c.spans and c.spans[name][1] > c.spans[name][0] else m
                           for name, m in c.slots.items()}
        out.sort(key=lambda c: -c.confidence)
        return out[:limit]

    def slot_lists(self) -> Dict[Tuple[str, str], str]:
        """{(intent, slot name): name of the list its values come from}, for every slot a
        template fills from a list (the first list, when templates of an intent differ)."""
        out: Dict[Tuple[str, str], str] = {}
        for g in self.graphs:
            for s in g.slot:
                if s is not None:
                    out.setdefault((g.intent, s[1]), s[0])
        return out

    def closest_values(self, list_name: str, heard: Sequence[str], k: int,
                       distinct: bool = False) -> List[CloseValue]:
        """The `k` spoken forms of list `list_name` closest to any of the `heard` phrases
        (normalised words), by spelling or by sound, with no similarity floor; closest first,
        ties in list order. With `distinct`, only the closest form of each value, `k` values.
        Empty for a list without spoken forms (numbers, wildcards) or not used by any template."""
        index = self.lists.get(list_name)
        if index is None or not index.forms or not heard or k <= 0:
            return []
        # forms are compared without spaces ("livingroom"), as the slot search compares them
        best = similarity_matrix(["".join(p.split()) for p in heard], index.forms, index.form_keys).max(axis=0)
        out: List[CloseValue] = []
        values: set = set()
        for f in np.argsort(-best, kind="stable").tolist():
            if len(out) >= k:
                break
            if distinct:
                if index.form_value[f] in values:
                    continue
                values.add(index.form_value[f])
            out.append(CloseValue(index.form_value[f], index.form_text[f], float(best[f])))
        return out

    def align_all(self, tokens: List[str], floor: float = 0.0,
                  plain: Optional[Callable[[int, int], str]] = None,
                  intents: Optional[Collection[str]] = None) -> List[Tuple[float, Alignment]]:
        """Best alignment per intent, best first, for intents scoring at least `floor` that could
        matter. `plain` gives wildcard values their words as heard (see `_heard`); `intents`
        limits the search to those intents."""
        u, upper = self._utterance(tokens, plain)
        weighted_n = sum(u.ins)
        order = np.argsort(-upper, kind="stable")
        per_intent: Dict[str, Tuple[float, Alignment]] = {}
        best = 0.0
        for k in order.tolist():
            bound = upper[k]
            need = max(floor, best - self.tie_margin)
            if bound < need:
                break  # no remaining template can win or tie with the best one
            g = self.graphs[k]
            if intents is not None and g.intent not in intents:
                continue
            # conf = 1 - cost / D with D <= max(utterance, longest path): costlier cells cannot reach `need`.
            a = align(g, u, limit=(1.0 - need) * max(weighted_n, g.max_len, 1.0) + 1e-9)
            if a is None:
                continue
            conf = a.confidence(weighted_n)
            if conf < floor:
                continue
            best = max(best, conf)
            intent = a.graph.intent
            if intent not in per_intent or conf > per_intent[intent][0]:
                per_intent[intent] = (conf, a)
        return sorted(per_intent.values(), key=lambda ca: -ca[0])

    # --- internals --------------------------------------------------------------------

    def _utterance(self, tokens: List[str],
                   plain: Optional[Callable[[int, int], str]] = None) -> Tuple[Utterance, np.ndarray]:
        n = len(tokens)
        sims = similarity_matrix(tokens, self.vocab.words, self._keys).T  # [vocab, n]
        ins = insertion_costs(tokens)
        sub = word_costs(sims, self._del, ins)
        split = np.full((len(self.vocab.words), n), INF, dtype=np.float64)
        if n > 1:
            bigrams = [tokens[i] + tokens[i + 1] for i in range(n - 1)]
            split[:, :n - 1] = join_costs(similarity_matrix(bigrams, self.vocab.words, self._keys).T)
        if self._pair_words:
            merge = join_costs(similarity_matrix(tokens, self._pair_words, self._pair_keys).T)
        else:
            merge = np.zeros((0, n))
        word_min = np.minimum(np.minimum(sub.min(axis=1), split.min(axis=1)), np.asarray(self._del))
        if self._pair_words:
            half = merge.min(axis=1) / 2  # a merge pays for two words at once
            np.minimum.at(word_min, self._pair_a, half)
            np.minimum.at(word_min, self._pair_b, half)
        spans = self._slot_search.for_utterance(tokens, plain)
        u = Utterance(tokens, sub.tolist(), split.tolist(), merge.tolist(), self._del, ins, spans)
        return u, self._bounds.upper(u, sub, split, merge, word_min)

    def _slots(self, a: Alignment, tokens: List[str], where: Optional[List[Span]] = None) -> Dict[str, SlotMatch]:
        slots: Dict[str, SlotMatch] = {name: SlotMatch(value, "", 1.0)
                                       for name, value in a.graph.template.fixed_slots.items()}
        for op, node, start, end, m in a.steps:
            if op == OP_SLOT:
                name = a.graph.slot[node][1]
                previous = slots.get(name)
                if previous is None or name in a.graph.template.fixed_slots or m.similarity >= previous.confidence:
                    # a wildcard's words are its value, as heard (tokens have numbers repaired)
                    wildcard = self.lists[a.graph.slot[node][0]].slot_list.wildcard
                    raw = m.spoken if wildcard else " ".join(tokens[start:end])
                    span = (where[start][0], where[end - 1][1]) if where and end > start else None
                    slots[name] = SlotMatch(m.value, raw, m.similarity, m.spoken, span)
        return slots

