"""Candidate sentences for grammar-aware acoustic rescoring.

For the best few parses of an utterance, every slot gets its few closest values (by spelling
and sound) in the same span, and each combination is rendered as the sentence the template
would say. A rescoring stage can then ask the recogniser which of these it heard.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple, Union

from voiced.grammar.align import OP_DEL, OP_MERGE, OP_SLOT, OP_SPLIT, OP_SUB, Alignment
from voiced.grammar.slots import SpanMatch

VALUES_PER_SLOT = 4


@dataclass
class Candidate:
    intent: str
    slots: Dict[str, Any]            # slot name -> SlotMatch
    sentence: str                    # normalised words the template says with these values
    confidence: float                # the matcher's confidence had it heard this sentence's slots
    template: str = ""
    spans: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # slot -> token span in the utterance


Part = Union[str, Tuple[str, str, int, int]]  # a word, or (slot name, list name, start, end)


def path_parts(a: Alignment, words: List[str]) -> List[Part]:
    """The template's side of an alignment: its words (also those the speaker dropped) and slot spans."""
    g = a.graph
    parts: List[Part] = []
    for op, node, start, end, data in a.steps:
        if op in (OP_SUB, OP_DEL, OP_SPLIT):
            parts.append(words[g.word[node]])
        elif op == OP_MERGE:
            parts.extend([words[g.word[node]], words[g.word[data]]])
        elif op == OP_SLOT:
            list_name, slot_name = g.slot[node]
            parts.append((slot_name, list_name, start, end))
    return parts


def expand(a: Alignment, parts: List[Part], options: Dict[Tuple[str, int, int], List[SpanMatch]],
           utterance_length: float, limit: int, slot_match: Any) -> List[Candidate]:
    """Up to `limit` candidates for one alignment, cheapest slot-value combinations first."""
    slot_parts = [p for p in parts if isinstance(p, tuple)]
    chosen = {(s.start, s.end) for s in (step[4] for step in a.steps if step[0] == OP_SLOT)}
    base = a.cost - sum(step[4].cost for step in a.steps if step[0] == OP_SLOT)
    beams: List[Tuple[float, List[SpanMatch]]] = [(base, [])]
    for _slot, list_name, start, end in slot_parts:
        found = options.get((list_name, start, end)) or []
        if not found or (start, end) not in chosen:
            return []
        beams = sorted(((cost + m.cost, picks + [m]) for cost, picks in beams for m in found),
                       key=lambda b: b[0])[:limit]
    out = []
    for cost, picks in beams:
        words: List[str] = []
        slots: Dict[str, Any] = {}
        spans: Dict[str, Tuple[int, int]] = {}
        it = iter(picks)
        for p in parts:
            if isinstance(p, str):
                words.append(p)
            else:
                m = next(it)
                words.append(m.spoken)
                # in a candidate the words "heard" for a slot are the ones the sentence says
                slots[p[0]] = slot_match(m.value, m.spoken, m.similarity, m.spoken)
                spans[p[0]] = (p[2], p[3])
        conf = max(0.0, 1.0 - cost / max(utterance_length, a.length, 1.0))
        out.append(Candidate(a.graph.intent, slots, " ".join(words), conf, a.graph.template.text, spans))
    return out
