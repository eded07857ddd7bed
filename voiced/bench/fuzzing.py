"""Inputs for fuzzing the file readers: config, grammar and WAV header bytes.

Random bytes rarely get past a YAML parser or a RIFF magic number, so most inputs here start
from the shipped config and command set and change them the way people and tools break
files: a value of the wrong type, a list where a mapping belongs, a key that is a list, tags,
NaN and huge numbers, nesting thousands of levels deep, aliases that expand exponentially,
odd encodings. WAV inputs are valid files with a few header fields set to values that break
parsers. The generators take a random.Random, so `voiced bench fuzz` (seeded) and the test
suite (hypothesis's Random) explore the same space; `exercise` is what both run on an input.
"""
from __future__ import annotations

import dataclasses
import random
import struct
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

from voiced.config import Config, load_config
from voiced.errors import AudioError, ConfigError, GrammarError
from voiced.paths import CONFIG_DIR, SHIPPED_GRAMMAR

KINDS = ("grammar", "config", "wav")
EXPECTED = (ConfigError, GrammarError, AudioError)
SENTENCES = ("turn on the kitchen light", "set a timer for 5 minutes", "what time is it")
_MARK = "FUZZMARK{}X"
_FALLBACK_GRAMMAR = {"lists": {"area": {"values": ["kitchen", {"in": "(living room | lounge)", "out": "living"}]}},
                     "expansion_rules": {"light": "(light | lamp)"},
                     "intents": {"On": {"data": [{"sentences": ["turn on [the] {area} <light>"]}]}}}
_WORDS = ["site_id", "vad", "threshold", "mqtt", "topic_prefix", "grammar", "paths", "intents", "data",
          "sentences", "lists", "values", "in", "out", "range", "from", "to", "step", "wildcard", "slots",
          "expansion_rules", "skip_words", "action", "topic", "payload", "qos", "retain", "<<", "", " ", "0"]


class Inputs:
    """Makes fuzz inputs (bytes) from the shipped files, or built-in stand-ins when not installed."""

    def __init__(self, config_path: Path = CONFIG_DIR / "voiced.yaml", grammar_path: Path = SHIPPED_GRAMMAR):
        self.config = _load_or(config_path, _config_defaults)
        self.grammar = _load_or(grammar_path, lambda: _FALLBACK_GRAMMAR)

    def make(self, kind: str, rng: random.Random) -> bytes:
        return {"grammar": self.grammar_input, "config": self.config_input, "wav": wav_input}[kind](rng)

    def config_input(self, rng: random.Random) -> bytes:
        tree = random_tree(rng, 4) if rng.random() < 0.15 else _copy(self.config)
        return _mutated_text(tree, rng, _config_snippets)

    def grammar_input(self, rng: random.Random) -> bytes:
        if rng.random() < 0.1:
            tree = random_tree(rng, 5)
        else:
            tree = _grammar_subset(self.grammar, rng)
            if rng.random() < 0.15:
                _add_rule_chain(tree, rng)
        return _mutated_text(tree, rng, _grammar_snippets)


def exercise(kind: str, data: bytes, scratch: Path) -> None:
    """Read `data` as the given kind the way voiced does; raises what the reader raises.

    A grammar is also compiled into a Matcher and matched, as the daemon would; a WAV is
    written to `scratch` (a file path) first, since read_wav reads files.
    """
    if kind == "config":
        load_config("fuzz.yaml", text=data)
    elif kind == "grammar":
        from voiced.grammar import Matcher, load_grammar_text

        matcher = Matcher(load_grammar_text(data, "fuzz.yaml"))
        for sentence in SENTENCES:
            matcher.match(sentence)
            matcher.candidates(sentence, limit=4)
    elif kind == "wav":
        from voiced.audio.wav import read_wav

        scratch.write_bytes(data)
        read_wav(scratch)
    else:
        raise ValueError(f"unknown kind {kind!r}")


def outcome(kind: str, data: bytes, scratch: Path) -> Tuple[str, Optional[BaseException]]:
    """('accepted' | the project error's name | 'crash', the crash) for one input."""
    try:
        exercise(kind, data, scratch)
    except EXPECTED as exc:
        return type(exc).__name__, None
    except Exception as exc:  # noqa: BLE001 - a fuzz run counts every other exception as a crash
        return "crash", exc
    return "accepted", None


# --- YAML trees ---------------------------------------------------------------------------

def random_tree(rng: random.Random, depth: int) -> Any:
    """A random YAML-able value whose keys are mostly names the schemas know."""
    if depth <= 0 or rng.random() < 0.3:
        return _scalar(rng)
    if rng.random() < 0.5:
        return [random_tree(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(_WORDS) if rng.random() < 0.8 else _text(rng): random_tree(rng, depth - 1)
            for _ in range(rng.randint(0, 5))}


def _mutated_text(tree: Any, rng: random.Random, snippets: Callable[[random.Random], str]) -> bytes:
    marks: Dict[str, str] = {}
    for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
        tree = _mutate(tree, rng, marks, snippets)
    try:
        text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False, width=200)
    except (yaml.YAMLError, RecursionError):  # a tree the mutations made unrepresentable: start over
        text = yaml.safe_dump(_scalar(rng))
    for mark, snippet in marks.items():
        text = text.replace(mark, snippet)
    return _mutated_bytes(text, rng)


def _mutate(tree: Any, rng: random.Random, marks: Dict[str, str], snippets: Callable[[random.Random], str]) -> Any:
    """One change at a random place in the tree (returns the new root)."""
    path = _random_path(tree, rng)
    node = _get(tree, path)
    op = rng.randrange(9)
    if op == 0:
        new: Any = _scalar(rng)
    elif op == 1:
        new = _mark(marks, snippets(rng))
    elif op == 2:
        new = [node] if rng.random() < 0.5 else {rng.choice(_WORDS): node}
    elif op == 3:  # a mapping becomes a list and the reverse; a value becomes an empty container
        if isinstance(node, dict):
            new = list(node.values())
        elif isinstance(node, list):
            new = {str(i): v for i, v in enumerate(node)}
        else:
            new = [] if rng.random() < 0.5 else {}
    elif op == 4:
        new = _get(tree, _random_path(tree, rng))  # a subtree from elsewhere: types swap places
    elif op == 5 and isinstance(node, dict) and node:
        node = dict(node)
        key = rng.choice(list(node))
        if rng.random() < 0.5:
            del node[key]
        else:
            node[_mark(marks, rng.choice(_KEY_SNIPPETS))] = node.pop(key)
        new = node
    elif op == 6 and isinstance(node, dict):
        new = dict(node, **{rng.choice(_WORDS) + rng.choice(("", "s", "_x")): _scalar(rng)})
    elif op == 7 and isinstance(node, list) and node:
        new = node + [rng.choice(node)] * rng.randint(1, 3) if rng.random() < 0.7 else []
    else:
        new = _mark(marks, snippets(rng))
    return _put(tree, path, new)


def _random_path(tree: Any, rng: random.Random) -> List[Any]:
    path: List[Any] = []
    node = tree
    while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append(key)
        node = node[key]
    return path


def _get(tree: Any, path: List[Any]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _put(tree: Any, path: List[Any], value: Any) -> Any:
    """A copy of `tree` with the value at `path` replaced (subtrees may be shared, never changed)."""
    if not path:
        return value
    head = _copy_shallow(tree)
    head[path[0]] = _put(tree[path[0]], path[1:], value)
    return head


def _mark(marks: Dict[str, str], snippet: str) -> str:
    mark = _MARK.format(len(marks))
    marks[mark] = snippet
    return mark


# --- values and raw YAML snippets -----------------------------------------------------------

_SCALARS: List[Any] = [None, "", " ", True, False, 0, -1, 1, 2 ** 31, 2 ** 64, 10 ** 400, -10 ** 30, 0.5, -0.0,
                       1e308, float("nan"), float("inf"), float("-inf"), "kitchen/#", "a/+/b", "/", "voiced//x",
                       "x\x00y", "\x07", "日本", "{area}", "<light>", "(a | b)", "[x", "on", "kitchen", "-"]
_KEY_SNIPPETS = ["[a, b]", "{a: 1}", "[]", "{}", "!e k", "'<<'", "<<", "~", "''", "? x", "&k k", "!!int 5"]
_TAG_SNIPPETS = ["!e x", "!e [1]", "!e {a: 1}", "!!python/object:os.system x", "!!int abc", "!!float x",
                 "!!timestamp x", "!!timestamp 2024-01-01", "!!binary '@@'", "!!binary aGVsbG8=", "!!set [1]",
                 "!!set {a: null}", "!!omap [a]", "!!pairs [1]", "!!str [1]", "!!map [1]", "!!seq {a: 1}", "!<tag:x> 1",
                 "!<x%0Ay> 1", "!!null x", "!!bool maybe", "=", "{<<: 5}", "{<<: [1, 2]}", "{<<: {a: 1}, a: 2}"]
_NUMBER_SNIPPETS = [".nan", ".NaN", ".inf", "-.inf", "+.inf", "1.0e400", "-1.0e400", "1e400", "0x_ff", "0b101",
                    "0o17", "017", "1_000", "190:20:30", "-0", "9" * 5000, "0." + "0" * 400 + "1", "1.5e-320"]
_TEXT_SNIPPETS = ['"\\0"', '"\\x01"', '"\\ud800"', '"\\U0010ffff"', "'kitchen/#'", "'a/+/b'", "''", "' '",
                  "'" + "x" * 70000 + "'", '"\\t\\n"', "'%'", "'@'", "`x`", "|", ">", "- - -"]


def _structure_snippets(rng: random.Random) -> str:
    n = rng.choice((3, 31, 32, 33, 49, 50, 51, 100, 999, 5000))
    uid = rng.randrange(10 ** 9)
    width = rng.randint(2, 12)
    layers = rng.randint(2, 12)
    bomb = ", ".join([f"&b{uid}_0 [" + ", ".join(["x"] * width) + "]"] + [
        f"&b{uid}_{i} [" + ", ".join([f"*b{uid}_{i - 1}"] * width) + "]" for i in range(1, layers)])
    return rng.choice([
        "[" * n + "]" * n, "{a: " * n + "1" + "}" * n, "[" * n + "{a: 1}" + "]" * n, "[" * n, "{" * n,
        f"[{bomb}]", f"&r{uid} [*r{uid}]", f"&r{uid} {{a: *r{uid}}}", f"*undefined{uid}", f"&d{uid} x, &d{uid} y",
    ])


def _config_snippets(rng: random.Random) -> str:
    pool = rng.choice((_TAG_SNIPPETS, _NUMBER_SNIPPETS, _TEXT_SNIPPETS, ["STRUCT"]))
    choice = rng.choice(pool)
    return _structure_snippets(rng) if choice == "STRUCT" else choice


def _grammar_snippets(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return _quoted(_template(rng))
    return _config_snippets(rng)


def _template(rng: random.Random) -> str:
    n = rng.choice((2, 31, 32, 33, 64, 500, 989, 2000))
    kind = rng.randrange(5)
    if kind == 0:
        return "(" * n + "a" + ")" * n
    if kind == 1:
        return "[" * n + "a" + "]" * n
    if kind == 2:
        return "(a | " * n + "b" + ")" * n
    if kind == 3:
        return " | ".join(["x"] * n)
    parts = ["a", "b", " ", "|", "(", ")", "[", "]", "{area}", "{nope}", "<light>", "<nope>", "{", "}", "<", ">",
             ";", ":", "{area:x}", "(on | off)", "[the]", "please", "日本", "!", "21"]
    return "".join(rng.choice(parts) for _ in range(rng.randint(1, 30)))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(_SCALARS)
    if roll < 0.8:
        return _text(rng)
    return rng.choice((rng.randint(-10 ** 6, 10 ** 6), rng.uniform(-1e6, 1e6), 10 ** rng.randint(1, 500)))


def _text(rng: random.Random) -> str:
    alphabet = "abc xyz_/#+:-{}[]()<>|'\"\\\t\u00e9\u65e5\x00\x85\u2028\ufeff"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


# --- whole-text changes and encodings ------------------------------------------------------

def _mutated_bytes(text: str, rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        lines = text.split("\n")
        k = rng.randrange(len(lines))
        op = rng.randrange(5)
        if op == 0:
            lines.insert(k, lines[rng.randrange(len(lines))])  # a duplicate key or item
        elif op == 1:
            del lines[k]
        elif op == 2:
            lines[k] = "\t" + lines[k]
        elif op == 3:
            lines[k] = lines[k][:rng.randint(0, len(lines[k]))]
        else:
            rng.shuffle(lines)
        text = "\n".join(lines)
    roll = rng.random()
    if roll < 0.7:
        return text.encode("utf-8", "surrogatepass")
    if roll < 0.75:
        return ("# caf\u00e9\n" + text).encode("latin-1", "replace")
    if roll < 0.8:
        return text.encode("utf-16")
    if roll < 0.85:
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(rng.randint(1, 3)):
        data.insert(rng.randint(0, len(data)), rng.choice((0x00, 0x07, 0x1b, 0x80, 0xc3, 0xe9, 0xff, 0xfe)))
    return bytes(data)


# --- WAV headers ---------------------------------------------------------------------------

def wav_input(rng: random.Random) -> bytes:
    """A RIFF/WAVE file made valid, then with a few header fields set to values that break readers."""
    tag = rng.choice((1, 3))
    f = {"riff": b"RIFF", "wave": b"WAVE", "tag": tag, "channels": rng.choice((1, 2)),
         "rate": rng.choice((16000, 44100)), "bits": rng.choice((8, 16, 24, 32) if tag == 1 else (32, 64)),
         "extensible": rng.random() < 0.2, "frames": rng.choice((0, 1, 3, 160, 1001)), "fmt_cut": None,
         "fmt_size": None, "data_size": None, "extra": None, "order": False, "riff_size": None}
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        name, values = rng.choice(_WAV_FIELDS)
        f[name] = rng.choice(values)
    align = f.get("align", f["channels"] * f["bits"] // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", 0xFFFE if f["extensible"] else f["tag"], f["channels"] & 0xFFFF,
                      f["rate"] & 0xFFFFFFFF, (f["rate"] * align) & 0xFFFFFFFF, align, f["bits"] & 0xFFFF)
    if f["extensible"]:
        fmt += struct.pack("<HHI", 22, f["bits"] & 0xFFFF, 0) + struct.pack("<H", f["tag"] & 0xFFFF) + _GUID_TAIL
    if f["fmt_cut"] is not None:
        fmt = fmt[:f["fmt_cut"]]
    n = min(f["frames"] * align, 1 << 19)  # under 512 kB, whatever the header claims
    body = rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""
    chunks = [_chunk(b"fmt ", fmt, f["fmt_size"]), _chunk(b"data", body, f["data_size"])]
    if f["extra"] is not None:
        chunks.insert(rng.randint(0, 2), _chunk(f["extra"], bytes(rng.randrange(64)), None))
    if f["order"]:
        chunks.reverse()
    payload = f["wave"] + b"".join(chunks)
    size = len(payload) if f["riff_size"] is None else f["riff_size"]
    data = bytearray(f["riff"] + struct.pack("<I", size & 0xFFFFFFFF) + payload)
    if rng.random() < 0.1:
        del data[rng.randrange(len(data)):]
    if rng.random() < 0.1 and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
    return bytes(data)


_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_WAV_FIELDS: List[Tuple[str, Tuple[Any, ...]]] = [
    ("riff", (b"RF64", b"RIFX", b"riff", b"\x00" * 4)), ("wave", (b"AVI ", b"", b"WAV")),
    ("tag", (0, 2, 6, 0xFFFE, 0xFFFF)), ("channels", (0, 3, 8, 32, 33, 255, 65535)),
    ("rate", (0, 1, 7999, 192001, 2 ** 31, 2 ** 32 - 1)), ("bits", (0, 1, 7, 12, 48, 65535)),
    ("align", (0, 1, 3, 65535)), ("extensible", (True,)), ("fmt_cut", (0, 8, 15, 17, 30)),
    ("frames", (0, 100000)), ("fmt_size", (0, 15, 1000, 0xFFFFFFFF)),
    ("data_size", (0, 1, 0x7FFFFFFF, 0xFFFFFFFF)), ("extra", (b"LIST", b"JUNK", b"ds64", b"fact", b"data", b"fmt ")),
    ("order", (True,)), ("riff_size", (0, 4, 0xFFFFFFFF)),
]


def _chunk(cid: bytes, body: bytes, size: Optional[int]) -> bytes:
    size = len(body) if size is None else size
    pad = b"\x00" if len(body) % 2 else b""
    return cid + struct.pack("<I", size) + body + pad


# --- helpers --------------------------------------------------------------------------------

def _load_or(path: Path, fallback: Callable[[], Any]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return fallback()


def _config_defaults() -> Dict[str, Any]:
    values = dataclasses.asdict(Config())
    for f in dataclasses.fields(Config):
        if f.metadata.get("internal"):  # source_path, key_lines, warnings: not settings
            values.pop(f.name, None)
    return values


def _grammar_subset(grammar: Any, rng: random.Random) -> Any:
    """The shipped grammar with a few intents (all lists and rules): small enough to load quickly."""
    if not isinstance(grammar, dict) or not isinstance(grammar.get("intents"), dict) or rng.random() < 0.05:
        return _copy(grammar)
    names = list(grammar["intents"])
    keep = rng.sample(names, min(len(names), rng.randint(1, 5)))
    return dict(_copy(grammar), intents={n: _copy(grammar["intents"][n]) for n in keep})


def _add_rule_chain(tree: Any, rng: random.Random) -> None:
    """Rules that each use the next one twice: tiny text, exponential once inlined."""
    if not isinstance(tree, dict):
        return
    n = rng.choice((5, 20, 40, 200))
    rules = {f"c{i}": f"<c{i + 1}> [<c{i + 1}>]" for i in range(n)}
    rules[f"c{n}"] = "(a | b)"
    tree["expansion_rules"] = dict(tree.get("expansion_rules") or {}, **rules)
    tree.setdefault("intents", {})["Chain"] = {"data": [{"sentences": ["go <c0>"]}]}


def _copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


def _copy_shallow(tree: Any) -> Any:
    return dict(tree) if isinstance(tree, dict) else list(tree)
