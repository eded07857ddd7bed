"""Compile and match timings for `voiced bench match`."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

from voiced.grammar.loader import load_grammar, load_grammar_text, shipped_grammar_path
from voiced.grammar.matcher import Matcher
from voiced.grammar.model import Grammar
from voiced.grammar.sample import sample
from voiced.grammar.synthetic import slot_heavy_yaml


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _time_grammar(name: str, load, count: int, seed: int, extra: Sequence[str] = ()) -> Iterator[str]:
    start = time.perf_counter()
    grammar: Grammar = load()
    loaded = time.perf_counter()
    matcher = Matcher(grammar)
    compiled = time.perf_counter()
    rng = random.Random(seed)
    texts = [sample(grammar, rng).text for _ in range(count)] + list(extra)
    for text in texts[:20]:  # warm caches the way a running daemon has them
        matcher.match(text)
    wall: List[float] = []
    cpu: List[float] = []
    hits = 0
    for text in texts:
        w0, c0 = time.perf_counter(), time.thread_time()
        result = matcher.match(text)
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        hits += result.recognized
    yield (f"{name}: {len(grammar.intents)} intents, {len(matcher.graphs)} templates, {len(grammar.lists)} lists; "
           f"load {1000 * (loaded - start):.0f} ms, compile {1000 * (compiled - loaded):.0f} ms")
    yield (f"  match {len(texts)} sentences ({hits} recognized): wall p50 {_percentile(wall, 0.5):.2f} ms, "
           f"p99 {_percentile(wall, 0.99):.2f} ms, max {max(wall):.2f} ms; "
           f"cpu p50 {_percentile(cpu, 0.5):.2f} ms, p99 {_percentile(cpu, 0.99):.2f} ms")


def run_bench(paths: Optional[Sequence[Path]], count: int, seed: int) -> Iterator[str]:
    """Lines of benchmark output: the given (or shipped) grammar, then the synthetic slot-heavy one."""
    paths = list(paths or [shipped_grammar_path()])
    from_corpus = ["what is the weather like in new york", "the horizon seems extremely distant",
                   "ask not what your country can do for you", "one two three"]
    yield from _time_grammar(", ".join(p.name for p in paths), lambda: load_grammar(paths), count, seed, from_corpus)
    yaml_text = slot_heavy_yaml(slots=7, values=40, templates=4, seed=seed)
    yield from _time_grammar("synthetic (7 slots in any order, 10-40 values each)",
                             lambda: load_grammar_text(yaml_text, "<synthetic>"), count, seed)
