"""Command grammar: YAML command sets -> intents with slots, matched robustly against transcripts.

    from voiced.grammar import load_grammar, Matcher
    matcher = Matcher(load_grammar(["commands.yaml"]))
    result = matcher.match("turn on the kitchen light")
"""
from voiced.grammar.actions import ActionError, render_action
from voiced.grammar.loader import load_grammar, load_grammar_text
from voiced.grammar.matcher import Candidate, Matcher, MatchResult, SlotMatch
from voiced.grammar.model import (
    Action,
    Grammar,
    Intent,
    ListValue,
    NumberRange,
    SlotList,
    Template,
)

__all__ = [
    "Action", "ActionError", "Candidate", "Grammar", "Intent", "ListValue", "MatchResult", "Matcher", "NumberRange",
    "SlotList", "SlotMatch", "Template", "load_grammar", "load_grammar_text", "render_action",
]
