"""The grammar file schema: walks composed YAML nodes into the Grammar model.

Every check reports through the collector and carries on, so one load lists every problem.
Lists are read by voiced.grammar.schema_lists, the YAML nodes by voiced.grammar.yamlnodes;
keys that only Home Assistant uses are accepted and reported once per file (voiced.grammar.hass).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple, Union

import yaml

from voiced.grammar import actions, filters, hass
from voiced.grammar.model import Action, Grammar, Intent, Scope, Template
from voiced.grammar.normalize import tokenize
from voiced.grammar.schema_lists import read_list
from voiced.grammar.scope import list_key, rename, rule_key
from voiced.grammar.yamlnodes import MISSING, finite, mapping, parse_template_at, plain, scalar, sequence

TOP_KEYS = ("language", "intents", "lists", "expansion_rules", "skip_words", "address")
INTENT_KEYS = ("data", "action", "requires_address")
ADDRESS_KEYS = ("words", "required")
DATA_KEYS = ("sentences", "slots", "lists", "expansion_rules")
ACTION_KEYS = ("topic", "payload", "qos", "retain", "maps")


def read_file(root: yaml.Node, grammar: Grammar, col: Any, origins: Dict[Tuple[str, str], Tuple[str, int]],
              rule_lines: Dict[str, Tuple[str, int]]) -> None:
    top = mapping(root, col, "", TOP_KEYS, ignored=hass.TOP_KEYS)
    if "language" in top:
        lang = scalar(top["language"], col, "language", str)
        if lang is not None and lang.lower() not in ("en", "en-us", "en-gb", "en_us", "en_gb"):
            col.add(f"language {lang!r} is not supported", top["language"], key="language",
                    hint="only English ('en') number words and contractions are built in")
    if "skip_words" in top:
        for item in sequence(top["skip_words"], col, "skip_words"):
            word = scalar(item, col, "skip_words", str)
            if word is not None and word.strip():
                grammar.skip_words.append(word)
    if "address" in top:
        _read_address(top["address"], grammar, col, origins)
    if "expansion_rules" in top:
        for key_node, value_node in mapping(top["expansion_rules"], col, "expansion_rules", None, items=True):
            name = key_node.value
            if _duplicate(("rule", name), key_node, col, origins, f"expansion_rules.{name}", "rule"):
                continue
            text = scalar(value_node, col, f"expansion_rules.{name}", str)
            tree = parse_template_at(text, value_node, col, f"expansion_rules.{name}") if text is not None else None
            if tree is not None:
                grammar.rules[name] = tree
                rule_lines[name] = (col.file, value_node.start_mark.line + 1)
    if "lists" in top:
        for key_node, value_node in mapping(top["lists"], col, "lists", None, items=True):
            name = key_node.value
            if not _duplicate(("list", name), key_node, col, origins, f"lists.{name}", "list"):
                slot_list = read_list(name, key_node, value_node, col, f"lists.{name}")
                if slot_list is not None:
                    grammar.lists[name] = slot_list
    if "intents" in top:
        intents = []
        for key_node, value_node in mapping(top["intents"], col, "intents", None, items=True):
            name = key_node.value
            if not _duplicate(("intent", name), key_node, col, origins, f"intents.{name}", "intent"):
                intent, action_node = _read_intent(name, key_node, value_node, col, grammar,
                                                   _Seen(origins, rule_lines))
                grammar.intents[name] = intent
                intents.append((intent, action_node))
        # Actions are checked once all rules of this file are known (templates may use rules).
        for intent, action_node in intents:
            _check_intent_action(intent, action_node, grammar, col)


def _duplicate(kind_name: Tuple[str, str], key_node: yaml.Node, col: Any,
               origins: Dict[Tuple[str, str], Tuple[str, int]], key: str, what: str) -> bool:
    line = key_node.start_mark.line + 1
    if kind_name in origins:
        file, first = origins[kind_name]
        col.add(f"duplicate {what} name '{kind_name[1]}'", key_node, key=key,
                hint=f"first defined at {file}:{first}; rename or merge them")
        return True
    origins[kind_name] = (col.file, line)
    return False


def _read_intent(name: str, key_node: yaml.Node, node: yaml.Node, col: Any, grammar: Grammar,
                 seen: "_Seen") -> Tuple[Intent, Optional[yaml.Node]]:
    reported = len(col.problems)
    fields = mapping(node, col, f"intents.{name}", INTENT_KEYS)
    intent = Intent(name=name, file=col.file, line=key_node.start_mark.line + 1)
    if "data" not in fields:
        if len(col.problems) == reported:  # not when the intent is no mapping at all (reported)
            col.add("intent has no 'data'", node, key=f"intents.{name}", hint="add data: [{sentences: [...]}]")
        return intent, None
    _read_data(intent, fields["data"], col, grammar, seen)
    if not intent.templates and len(col.problems) == reported:
        # Nothing else explains it (e.g. data: []); an intent without sentences can never match.
        col.add(f"intent {name} has no sentences", fields["data"], key=f"intents.{name}.data",
                hint="add data: [{sentences: [...]}] with at least one sentence")
    if "action" in fields:
        intent.action = _read_action(fields["action"], col, f"intents.{name}.action")
    if "requires_address" in fields:
        node = fields["requires_address"]
        intent.requires_address = bool(scalar(node, col, f"intents.{name}.requires_address", bool))
        if intent.requires_address:  # checked once every file's address words are known
            seen.origins[("requires_address", name)] = (col.file, node.start_mark.line + 1)
    return intent, fields.get("action")


def _read_address(node: yaml.Node, grammar: Grammar, col: Any, origins: Dict[Tuple[str, str], Tuple[str, int]]) -> None:
    """`address: {words: [computer], required: false}`: several files' words are merged; their
    `required` must agree (origins holds where it was first set)."""
    fields = mapping(node, col, "address", ADDRESS_KEYS)
    if "words" in fields:
        words = fields["words"]
        items = [words] if isinstance(words, yaml.ScalarNode) else sequence(words, col, "address.words")
        for item in items:
            word = scalar(item, col, "address.words", str)
            if word is None:
                continue
            if not tokenize(word):
                col.add(f"address word {word!r} has no letters or digits", item, key="address.words",
                        hint="write the word said to address the device, e.g. computer")
            elif word not in grammar.address.words:
                grammar.address.words.append(word)
    if "required" in fields:
        required = scalar(fields["required"], col, "address.required", bool)
        if required is None:
            return
        line = fields["required"].start_mark.line + 1
        first = origins.get(("address", "required"))
        if first is not None and required != grammar.address.required:
            col.add(f"address.required is {str(required).lower()} here but "
                    f"{str(grammar.address.required).lower()} at {first[0]}:{first[1]}", fields["required"],
                    key="address.required", hint="set it the same in every command file, or in one file only")
        elif first is None:
            origins[("address", "required")] = (col.file, line)
            grammar.address.required = required


def _read_data(intent: Intent, node: yaml.Node, col: Any, grammar: Grammar, seen: "_Seen") -> None:
    name = intent.name
    for i, block in enumerate(sequence(node, col, f"intents.{name}.data")):
        key = f"intents.{name}.data[{i}]"
        parts = mapping(block, col, key, DATA_KEYS, ignored=hass.DATA_KEYS)
        scope = _read_local(parts, col, key, grammar, seen)
        fixed: Dict[str, Any] = {}
        if "slots" in parts:
            for k_node, v_node in mapping(parts["slots"], col, f"{key}.slots", None, items=True):
                value = finite(scalar(v_node, col, f"{key}.slots.{k_node.value}", (str, int, float)),
                                v_node, col, f"{key}.slots.{k_node.value}")
                if value is not None:
                    fixed[k_node.value] = value
        if "sentences" not in parts:
            if isinstance(block, yaml.MappingNode):
                col.add("data block has no 'sentences'", block, key=key, hint="add sentences: [...]")
            continue
        sentences = sequence(parts["sentences"], col, f"{key}.sentences")
        if not sentences and isinstance(parts["sentences"], yaml.SequenceNode):
            col.add("no sentences", parts["sentences"], key=f"{key}.sentences", hint="list at least one sentence")
        for s_node in sentences:
            text = scalar(s_node, col, f"{key}.sentences", str)
            tree = parse_template_at(text, s_node, col, f"{key}.sentences") if text is not None else None
            if tree is not None:
                intent.templates.append(Template(text, rename(tree, scope.names), dict(fixed), col.file,
                                                 s_node.start_mark.line + 1, scope if scope.names else None))


class _Seen:
    """Where each list, rule and intent name was first defined: (kind, name) -> (file, line),
    and each rule's line, for messages."""

    def __init__(self, origins: Dict[Tuple[str, str], Tuple[str, int]], rule_lines: Dict[str, Tuple[str, int]]):
        self.origins = origins
        self.rule_lines = rule_lines


def _read_local(parts: Dict[str, yaml.Node], col: Any, key: str, grammar: Grammar, seen: _Seen) -> Scope:
    """A data block's own lists and expansion rules (hassil's), added to the grammar under names
    of their own; the scope says which names the block's sentences mean by them."""
    scope = Scope(key)
    lists = mapping(parts["lists"], col, f"{key}.lists", None, items=True) if "lists" in parts else []
    for key_node, value_node in lists:
        local = f"{key}.lists.{key_node.value}"
        # Even when broken (reported), its uses must not fall back to a shared list of that name.
        scope.names[list_key(key_node.value)] = local
        seen.origins[("list", local)] = (col.file, key_node.start_mark.line + 1)
        slot_list = read_list(key_node.value, key_node, value_node, col, local)
        if slot_list is not None:
            grammar.lists[local] = slot_list
    rules = mapping(parts["expansion_rules"], col, f"{key}.expansion_rules", None, items=True) \
        if "expansion_rules" in parts else []
    trees = {}
    for key_node, value_node in rules:
        local = f"{key}.expansion_rules.{key_node.value}"
        scope.names[rule_key(key_node.value)] = local
        seen.origins[("rule", local)] = (col.file, key_node.start_mark.line + 1)
        text = scalar(value_node, col, local, str)
        tree = parse_template_at(text, value_node, col, local) if text is not None else None
        if tree is not None:
            trees[local] = tree
            seen.rule_lines[local] = (col.file, value_node.start_mark.line + 1)
    for local, tree in trees.items():  # local rules see the block's names too
        grammar.rules[local] = rename(tree, scope.names)
    return scope


def _check_intent_action(intent: Intent, node: Optional[yaml.Node], grammar: Grammar, col: Any) -> None:
    if intent.action is None or not intent.templates or node is None:
        return
    per_template = [set(grammar.template_slots(t)) for t in intent.templates]
    everywhere = set.intersection(*per_template)
    anywhere = set.union(*per_template)
    values = actions.slot_values(grammar, intent)
    several = isinstance(intent.action, list)
    pairs = zip(intent.action, _action_nodes(node)) if isinstance(intent.action, list) else [(intent.action, node)]
    for i, (action, action_node) in enumerate(pairs):
        key = f"intents.{intent.name}.action" + (f"[{i}]" if several else "")
        # Point at the topic or payload line; the action was read (and its keys checked) already.
        parts = {k.value: v for k, v in action_node.value if isinstance(k, yaml.ScalarNode)} \
            if isinstance(action_node, yaml.MappingNode) else {}
        for where, problem, hint in actions.check_action(action, sorted(anywhere), values):
            col.add(problem, parts.get(where, action_node), key=f"{key}.{where}", hint=hint)
        for name in actions.placeholders(action):
            if name in anywhere and name not in everywhere:
                where = "topic" if name in actions.placeholders(Action(action.topic)) else "payload"
                col.add(f"placeholder {{{name}}} is missing from some sentences of this intent",
                        parts.get(where, action_node), key=f"{key}.{where}",
                        hint=f"add {{{name}}} to every sentence, or give it a fixed value under 'slots:'")


def _action_nodes(node: yaml.Node) -> List[yaml.Node]:
    """The nodes of the actions _read_action kept (those that are mappings with a topic)."""
    if not isinstance(node, yaml.SequenceNode):
        return [node]
    return [item for item in node.value if isinstance(item, yaml.MappingNode)
            and any(isinstance(k, yaml.ScalarNode) and k.value == "topic" for k, _ in item.value)]


def _read_action(node: yaml.Node, col: Any, key: str) -> Union[Action, List[Action], None]:
    """One action (a mapping) or several (a list of mappings, published in order)."""
    if not isinstance(node, yaml.SequenceNode):
        return _read_one_action(node, col, key)
    items = sequence(node, col, key)
    if not items:
        col.add("empty list of actions", node, key=key, hint="list at least one {topic: ..., payload: ...}")
        return None
    read = [(_read_one_action(item, col, f"{key}[{i}]"), item) for i, item in enumerate(items)]
    kept = [a for a, _ in read if a is not None]
    # Keep positions aligned with _action_nodes: a broken action (reported) drops the lot.
    return kept if len(kept) == len(read) and len(kept) == len(_action_nodes(node)) else None


def _read_maps(node: yaml.Node, col: Any, key: str) -> Dict[str, Dict[str, Any]]:
    """An action's lookup tables for map(name): name -> {value as text: replacement}."""
    maps: Dict[str, Dict[str, Any]] = {}
    for name_node, table_node in mapping(node, col, key, None, items=True):
        table = plain(table_node, col, f"{key}.{name_node.value}")
        if table is MISSING:
            continue
        problem = filters.map_problem(name_node.value, table) or (
            actions.payload_problem(table) if isinstance(table, dict) else None)
        if problem:
            col.add(problem, table_node, key=f"{key}.{name_node.value}",
                    hint="write e.g. colors: {green: {hex: \"#00ff00\"}, red: {hex: \"#ff0000\"}}")
            continue
        # Keys are text so that a slot value 1 or "1" finds the same entry (filters._key).
        maps[name_node.value] = {str(int(k) if isinstance(k, float) and k.is_integer() else k): v
                                 for k, v in table.items()}
    return maps


def _read_one_action(node: yaml.Node, col: Any, key: str) -> Optional[Action]:
    fields = mapping(node, col, key, ACTION_KEYS)
    if not fields:
        return None
    if "topic" not in fields:
        col.add("action has no 'topic'", node, key=key, hint="add topic: zigbee2mqtt/kitchen_light/set")
        return None
    topic = scalar(fields["topic"], col, f"{key}.topic", str)
    payload: Any = ""
    if "payload" in fields:
        payload = plain(fields["payload"], col, f"{key}.payload")
        if payload is MISSING or payload is None:
            payload = ""
        elif isinstance(payload, (int, float, bool)):
            payload = json.dumps(payload)  # a bare number or boolean is sent as its JSON text
        elif isinstance(payload, str):
            payload = actions.parse_payload(payload)  # JSON text becomes a tree, filled in as data
        problem = actions.payload_problem(payload)
        if problem:
            col.add(f"payload cannot be sent as JSON: {problem}", fields["payload"], key=f"{key}.payload",
                    hint="use strings, numbers, lists and mappings only")
    qos = scalar(fields["qos"], col, f"{key}.qos", int) if "qos" in fields else 0
    if qos is not None and qos not in (0, 1, 2):
        col.add(f"qos {qos} is not 0, 1 or 2", fields["qos"], key=f"{key}.qos", hint="use 0, 1 or 2")
        qos = 0
    retain = scalar(fields["retain"], col, f"{key}.retain", bool) if "retain" in fields else False
    maps = _read_maps(fields["maps"], col, f"{key}.maps") if "maps" in fields else {}
    if topic is None:
        return None
    return Action(topic=topic, payload=payload, qos=qos or 0, retain=bool(retain), maps=maps)


