"""`voiced match` (what a sentence means), `voiced check-config` (validate config and grammar)
and `voiced bench match` (compile and match times)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple


def register(sub) -> None:
    m = sub.add_parser("match", help="match a sentence against the command grammar and print JSON")
    m.add_argument("text", help="the sentence, e.g. \"turn on the kitchen light\"")
    _grammar_args(m)
    m.add_argument("--threshold", type=float, help="reject below this confidence (default: from config, 0.72)")
    m.add_argument("--tie-margin", type=float, help="reject near-ties between intents (default: from config, 0.04)")
    m.add_argument("--candidates", type=int, default=0, metavar="N",
                   help="also list up to N candidate sentences for acoustic rescoring")
    m.set_defaults(func=cmd_match)
    c = sub.add_parser("check-config", help="validate the config file and the grammar it uses; start nothing")
    _grammar_args(c)
    c.set_defaults(func=cmd_check_config)


def register_bench(bench) -> None:
    b = bench.add_parser("match", help="grammar compile time and p50/p99 match time")
    b.add_argument("--grammar", type=Path, action="append", help="grammar file (default: the shipped set)")
    b.add_argument("--sentences", type=int, default=400, help="sentences matched per grammar (default 400)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=cmd_bench_match)


def _grammar_args(p: argparse.ArgumentParser) -> None:
    from voiced.paths import DEFAULT_CONFIG, default_config

    # The same default as `voiced run`, so checking and matching see what the service would.
    p.add_argument("--config", type=Path, default=default_config(),
                   help=f"config file (YAML); its grammar section is used (default: $VOICED_CONFIG, else "
                        f"{DEFAULT_CONFIG} when it exists)")
    p.add_argument("--grammar", type=Path, action="append",
                   help="grammar file or directory (repeatable); overrides the config's grammar.paths")


def _paths(args, config) -> List[Path]:
    from voiced.grammar.loader import config_grammar_paths, shipped_grammar_path

    if args.grammar:
        return list(args.grammar)
    if args.config:
        return config_grammar_paths(config)
    return [shipped_grammar_path()]


def cmd_match(args) -> int:
    from voiced.config import Config, load_config
    from voiced.grammar import Matcher, load_grammar, render_action
    from voiced.grammar.actions import ActionError, action_list

    config = load_config(args.config) if args.config else Config()
    grammar = load_grammar(_paths(args, config))
    threshold = config.grammar.threshold if args.threshold is None else args.threshold
    margin = config.grammar.tie_margin if args.tie_margin is None else args.tie_margin
    matcher = Matcher(grammar, threshold=threshold, tie_margin=margin, slot_threshold=config.grammar.slot_threshold)
    result = matcher.match(args.text)
    out = result.to_dict()
    rendered = []
    for action in action_list(grammar.intents[result.intent].action if result.recognized else None):
        try:
            topic, payload = render_action(action, result)
            rendered.append({"topic": topic, "payload": payload, "qos": action.qos, "retain": action.retain})
        except ActionError as exc:
            rendered.append({"error": str(exc)})
    if rendered:  # "action" for the usual single action, "actions" for an intent with several
        out.update({"action": rendered[0]} if len(rendered) == 1 else {"actions": rendered})
    if args.candidates:
        out["candidates"] = [{"intent": c.intent, "sentence": c.sentence, "confidence": round(c.confidence, 3),
                              "slots": {k: v.value for k, v in c.slots.items()}}
                             for c in matcher.candidates(args.text, limit=args.candidates)]
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_check_config(args) -> int:
    """Report every config and grammar problem in one go; exit 78 when there is any."""
    from voiced.config import Config, load_config
    from voiced.errors import ConfigError, GrammarError
    from voiced.grammar import Matcher, load_grammar
    from voiced.grammar.address import describe as describe_address

    problems = []
    config: Optional[Config] = Config()
    try:
        if args.config:
            config = load_config(args.config)
    except ConfigError as exc:
        problems.extend(exc.problems)
        config = None
    grammar = None
    if config is not None or args.grammar:
        paths = _paths(args, config)
        try:
            grammar = load_grammar(paths)
        except GrammarError as exc:
            problems.extend(exc.problems)
    if problems:
        kind = ConfigError if config is None else GrammarError
        raise kind(problems)
    if grammar is None or config is None:  # unreachable: either loaded or reported above
        return 1
    start = time.perf_counter()
    matcher = Matcher(grammar, config.grammar.threshold, config.grammar.tie_margin, config.grammar.slot_threshold)
    elapsed = (time.perf_counter() - start) * 1000
    templates = sum(len(i.templates) for i in grammar.intents.values())
    actions = sum(1 for i in grammar.intents.values() if i.action is not None)
    warning, note = _index_notes(grammar, config.rescoring)
    if warning:
        print(f"voiced: warning: {warning}", file=sys.stderr)
    addressed = describe_address(grammar)
    print(f"ok: config {args.config or '(defaults)'}; grammar {', '.join(map(str, paths))}: "
          f"{len(grammar.intents)} intents, {templates} templates, {len(grammar.lists)} lists, "
          f"{actions} actions{'; ' + addressed if addressed else ''}; compiled {len(matcher.graphs)} templates in "
          f"{elapsed:.0f} ms")
    if note:
        print(note)
    return 0


def _index_notes(grammar, rescoring) -> Tuple[Optional[str], Optional[str]]:
    """(warning, note) on the rescoring sentence index, as the daemon will log them: counted,
    never built. The warning when templates are left out and nothing else covers them, the note
    when `constrained: auto` searches them instead."""
    if rescoring.mode == "off" or rescoring.neighbours <= 0 or rescoring.constrained in ("fallback", "always"):
        return None, None  # no index
    from voiced.rescoring.neighbours import plan_index

    plan = plan_index(grammar, rescoring.max_index_sentences, whole_intents=rescoring.constrained == "auto")
    if not plan.left_out:
        return None, None
    if rescoring.constrained == "off":
        return plan.warning(), None
    return None, plan.searched_note()


def cmd_bench_match(args) -> int:
    from voiced.grammar.bench import run_bench

    for line in run_bench(args.grammar, args.sentences, args.seed):
        print(line, flush=True)
    return 0
