"""What Home Assistant's intent files hold that voiced reads differently, or not at all.

Home Assistant's sentences (its `intents` repository, parsed by hassil) carry keys that only
mean something inside Home Assistant: which satellite or area a sentence needs
(`requires_context`), what to answer (`response`), bookkeeping (`metadata`). voiced accepts
them so that those files load, and says once per file which keys it left out. Some lists
(`name`, `area`, `floor`) are not in the files at all: Home Assistant fills them at run time
from its entities, areas and floors. A sentence that uses one is left out, with one warning
per list, until a command set gives the list values.
"""
from __future__ import annotations

from typing import AbstractSet, Dict, List, Optional, Tuple

import yaml

from voiced.errors import Problem
from voiced.grammar.model import Grammar
from voiced.grammar.scope import reachable_lists

TOP_KEYS = ("settings", "responses")
"""hassil's matching settings; the answers Home Assistant speaks"""
DATA_KEYS = ("requires_context", "excludes_context", "response", "metadata", "required_keywords",
             "inferred_domain", "name_domains", "settings")
"""what a sentence needs from the satellite or entity, what to answer, bookkeeping, hassil's
speed-ups (`required_keywords` only filters sentences, it never changes a match)"""
VALUE_KEYS = ("context", "metadata")
"""what a list value adds to Home Assistant's context"""
RANGE_KEYS = ("type",)
"""percentage or temperature: the unit Home Assistant gives the number; the number is the same"""
RUNTIME_LISTS = ("name", "area", "floor")
"""lists Home Assistant fills at run time from its entities, areas and floors"""


class IgnoredKeys:
    """Home Assistant's own keys seen in one file: each with its first line and how often."""

    def __init__(self) -> None:
        self.seen: Dict[str, Tuple[int, int]] = {}  # key -> (first line, count)

    def add(self, key: str, node: yaml.Node) -> None:
        first, n = self.seen.get(key, (node.start_mark.line + 1, 0))
        self.seen[key] = (first, n + 1)

    def warning(self, file: str) -> Optional[Problem]:
        """One warning for the whole file, or None when it had none of these keys."""
        if not self.seen:
            return None
        keys = sorted(self.seen, key=lambda k: self.seen[k][0])
        listed = ", ".join(f"{k} ({self.seen[k][1]})" if self.seen[k][1] > 1 else k for k in keys)
        return Problem(f"ignored keys that only Home Assistant uses: {listed}", file=file,
                       line=self.seen[keys[0]][0],
                       hint="voiced reads sentences, slots, lists and expansion rules; "
                            "these need Home Assistant's context and answers")


def runtime_list_warning(name: str, uses: List[Tuple[str, Optional[str], Optional[int]]]) -> Problem:
    """The one warning for a list Home Assistant fills at run time: `uses` are the (intent,
    file, line) of the sentences left out for it."""
    intents = list(dict.fromkeys(intent for intent, _, _ in uses))
    shown = ", ".join(intents[:5]) + (f" and {len(intents) - 5} more" if len(intents) > 5 else "")
    _, file, line = uses[0]
    return Problem(f"list '{{{name}}}' needs values: Home Assistant fills it at run time; {len(uses)} "
                   f"sentence{'s' if len(uses) != 1 else ''} of {shown} left out until it has some",
                   file=file, line=line, key=f"lists.{name}",
                   hint=f"define lists: {{{name}: {{values: [...]}}}} in a command set to use them")


def leave_out_runtime_lists(grammar: Grammar, defined: AbstractSet[str]) -> List[Problem]:
    """Take out the sentences that use a list Home Assistant fills at run time and no file
    defines (`defined`: every list name written, broken ones too), and intents left without
    sentences; one warning per list."""
    uses: Dict[str, List[Tuple[str, Optional[str], Optional[int]]]] = {}
    for name in list(grammar.intents):
        intent = grammar.intents[name]
        kept = []
        for template in intent.templates:
            missing = {s.list_name for s, _ in reachable_lists(template.tree, grammar.rules)
                       if s.list_name in RUNTIME_LISTS and s.list_name not in grammar.lists
                       and s.list_name not in defined}
            for list_name in sorted(missing):
                uses.setdefault(list_name, []).append((name, template.file, template.line))
            if not missing:
                kept.append(template)
        if intent.templates and not kept:
            del grammar.intents[name]
        else:
            intent.templates[:] = kept
    return [runtime_list_warning(name, found) for name, found in sorted(uses.items())]
