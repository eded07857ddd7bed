"""The grammar's token automaton (voiced.asr.constrained): what it lets a search say is what the
grammar says, in the spellings the recogniser writes, and it is built without expanding the
grammar. No model weights here: only Moonshine's tokenizer."""
from __future__ import annotations

import random
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiced.asr.constrained import compile_grammar
from voiced.asr.constrained.automaton import Automaton, Cursor, Fill, Start, events
from voiced.asr.constrained.search import meaning
from voiced.asr.constrained.spelling import number_forms, spellings, surface
from voiced.asr.scoring.steps import SequenceScore
from voiced.asr.tokenizer import Tokenizer
from voiced.grammar import Matcher, load_grammar, load_grammar_text
from voiced.grammar.loader import shipped_grammar_path
from voiced.grammar.template import parse_template
from voiced.grammar.walk import count, expand

TWIN_TOKENIZER = "tests/fixtures/models/moonshine-v2-tiny-test/tokenizer.json"


@pytest.fixture(scope="module")
def tokenizer(base_en_model) -> Tokenizer:
    return Tokenizer(base_en_model.tokenizer)


@pytest.fixture(scope="module")
def shipped(tokenizer):
    matcher = Matcher(load_grammar([shipped_grammar_path()]))
    return matcher, compile_grammar(matcher.grammar, tokenizer)


def _said(automaton: Automaton, tokenizer: Tokenizer, text: str):
    """The cursor after `text`'s tokens (None when the grammar cannot say them)."""
    cursor = automaton.start()
    for token in tokenizer.encode(text):
        cursor = automaton.advance(cursor, token)
        if not cursor.places and cursor.accept is None:
            return None
    return cursor


def _walk(compiled, rng: random.Random, stop: float = 0.3):
    """A random sentence of the automaton: (tokens, trail)."""
    a = compiled.automaton
    cursor, tokens = a.start(), []
    while True:
        allowed = a.tokens(cursor)
        if cursor.accept is not None and (not len(allowed) or rng.random() < stop):
            return tokens, cursor.accept[0]
        assert len(allowed), "a prefix that can neither go on nor end"
        token = int(rng.choice(list(allowed)))
        tokens.append(token)
        cursor = a.advance(cursor, token)


def _check_parses_back(matcher: Matcher, compiled, tokenizer: Tokenizer, rng: random.Random) -> str:
    tokens, trail = _walk(compiled, rng)
    sentence = meaning(compiled, tokens, SequenceScore(0.0, len(tokens) + 1), trail)
    text = tokenizer.decode(tokens)
    assert tokenizer.encode(text) == tokens, text  # the text gives the search's tokens back
    result = matcher.match(text)
    assert result.recognized, (text, sentence, result.to_dict())
    assert result.intent == sentence.intent, (text, sentence, result.to_dict())
    assert {k: v.value for k, v in result.slots.items()} == {k: s.value for k, s in sentence.slots.items()}, \
        (text, sentence, result.to_dict())
    return text


# --- spellings ------------------------------------------------------------------------------


def test_spellings_are_the_ways_the_recogniser_writes_a_phrase():
    assert [surface(f) for f in spellings(["what", "is", "the", "time"])] == ["what is the time", "what's the time"]
    assert [surface(f) for f in spellings(["tv"], names=True)] == ["tv", "Tv", "TV"]
    assert [surface(f) for f in spellings(["new", "york"], names=True)] == ["new york", "New York"]
    assert [surface(f) for f in spellings(["living", "room"], names=True)] == ["living room", "Living Room"]
    assert [surface(f) for f in spellings(["percent"])] == ["percent", "%"]
    assert [surface(f) for f in number_forms(21)] == ["21", "twenty one", "twenty-one"]
    assert [surface(f) for f in number_forms(2.5)] == ["2.5", "two point five"]


def test_a_glued_symbol_adds_its_own_tokens(tokenizer, shipped):
    """ "50%" is the digits' tokens and "%": the search can write what the recogniser writes."""
    _, compiled = shipped
    cursor = _said(compiled.automaton, tokenizer, "Set the bedroom light brightness to 50%")
    assert cursor is not None and cursor.accept is not None


# --- what the automaton says ----------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Turn on the kitchen light", "turn on the kitchen light", "What's the weather like in New York",
    "Set a timer for 30 seconds", "Set a timer for thirty seconds", "Set the temperature to 21.5 degrees",
    "Could you please turn off the lights in the office please", "Skip on TV", "Never mind",
])
def test_the_shipped_grammar_says_what_the_recogniser_writes(tokenizer, shipped, text):
    _, compiled = shipped
    cursor = _said(compiled.automaton, tokenizer, text)
    assert cursor is not None and cursor.accept is not None, text


@pytest.mark.parametrize("text", [
    "Turn on the kitchen", "Set a timer for 301 seconds", "Set the temperature to 21.3 degrees",
    "Turn on the garden of light", "Add milk to my shopping list",  # free text is left out
])
def test_the_shipped_grammar_does_not_say_other_sentences(tokenizer, shipped, text):
    _, compiled = shipped
    cursor = _said(compiled.automaton, tokenizer, text)
    assert cursor is None or cursor.accept is None, text


def test_the_templates_that_say_a_slot_leave_the_fixed_phrases_out(tokenizer, shipped):
    """What `rescoring.constrained: auto` searches beside the neighbour index: searched, short
    fixed phrases ("forget it") fitted sung music about as well as its own transcript did."""
    matcher, _ = shipped
    compiled = compile_grammar(matcher.grammar, tokenizer, only=matcher.grammar.templates_saying_a_slot())
    for text in ("Turn on the kitchen light", "Set a timer for 30 seconds", "Next", "What's the weather"):
        cursor = _said(compiled.automaton, tokenizer, text)
        assert cursor is not None and cursor.accept is not None, text
    for text in ("Never mind", "Forget it", "What time is it", "Cancel the timer"):
        cursor = _said(compiled.automaton, tokenizer, text)
        assert cursor is None or cursor.accept is None, text


def test_free_text_templates_are_left_out_with_the_reason(shipped):
    _, compiled = shipped
    assert {(i, why) for i, _t, why in compiled.left_out} == {("ShoppingListAdd", "free-text slot {item}")}


def test_a_finished_prefix_says_its_intent_and_slots(tokenizer, shipped):
    _, compiled = shipped
    tokens = tokenizer.encode("Set the Living Room lights to warm white")
    cursor = _said(compiled.automaton, tokenizer, "Set the Living Room lights to warm white")
    found = meaning(compiled, tokens, SequenceScore(-1.0, len(tokens) + 1), cursor.accept[0])
    assert found.intent == "LightColor"
    assert {k: s.value for k, s in found.slots.items()} == {"area": "living_room", "color": "warm white"}
    assert [type(e) for e in events(cursor.accept[0])] == [Start, Fill, Fill]


def test_one_prefix_is_one_cursor_however_many_templates_say_it(tokenizer, shipped):
    """Every template of the light intents opens with "turn": after it, one cursor holds them all."""
    _, compiled = shipped
    a = compiled.automaton
    (turn,) = tokenizer.encode("Turn")
    cursor = a.advance(a.start(), turn)
    assert isinstance(cursor, Cursor) and len(cursor) > 10
    assert tokenizer.encode("on")[0] in set(a.tokens(cursor).tolist())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_every_sentence_of_the_shipped_automaton_parses_back(tokenizer, shipped, seed):
    matcher, compiled = shipped
    _check_parses_back(matcher, compiled, tokenizer, random.Random(seed))


# --- random grammars ------------------------------------------------------------------------

_WORDS = ("amber basil cobalt dune ember fjord garnet harbor ivory jasper kelp lagoon meadow nectar onyx pebble "
          "quartz ripple sable tundra umber velvet willow yarrow zephyr").split()
_VERBS = ("launch", "paint", "water", "measure", "polish", "gather")
_NOUNS = ("robot", "garden", "window", "kettle", "rocket", "basket")


def _random_grammar(rng: random.Random) -> str:
    """YAML of 2-3 intents, each opening with its own verb, over lists of distinct words (one a
    number range), with alternatives, optional parts, permutations and a rule."""
    pool = list(_WORDS)
    rng.shuffle(pool)
    lines = ["language: en", "expansion_rules:", "  article: \"(the | a | an)\"", "lists:"]
    lists = []
    for k in range(3):
        name = f"l{k}"
        lists.append(name)
        lines += [f"  {name}:", "    values:"]
        for _ in range(rng.randint(1, 4)):
            word, other = pool.pop(), pool.pop()
            if rng.random() < 0.4:
                lines += [f"      - in: \"({word} | {word} {other})\"", f"        out: {name}_{word}"]
            else:
                lines.append(f"      - \"{word}\"")
    lines += ["  n:", "    range: {from: 1, to: 30}", "intents:"]
    for k, verb in enumerate(rng.sample(_VERBS, rng.randint(2, 3))):
        noun = rng.choice(_NOUNS)
        slots = rng.sample(lists, 2)
        parts = [f"(my | the) {noun}", f"[with] {{{slots[0]}}}", f"[and {{{slots[1]}}}]",
                 "[<article>] [today]", "to {n} percent"]
        body = " ".join(rng.sample(parts, rng.randint(1, 3)))
        if rng.random() < 0.5:
            body = f"({{{slots[0]}}}; {noun} [now])" if "{" + slots[0] + "}" not in body else body
        lines += [f"  I{k}:", "    data:", "      - sentences:", f"          - \"{verb} {body}\"",
                  f"          - \"[please] {verb} [it] {body} [quickly]\""]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_every_sentence_of_a_random_grammar_parses_back(tokenizer, seed):
    _check_random_grammar(tokenizer, seed)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_a_smaller_vocabulary_splits_words_and_still_parses_back(seed):
    """The v2 twin's tokenizer has 1024 tokens: most words are several tokens, "Turn" two."""
    _check_random_grammar(Tokenizer(TWIN_TOKENIZER), seed)


def _check_random_grammar(tokenizer: Tokenizer, seed: int) -> None:
    rng = random.Random(seed)
    matcher = Matcher(load_grammar_text(_random_grammar(rng), "<random>"))
    compiled = compile_grammar(matcher.grammar, tokenizer)
    assert not compiled.left_out
    for _ in range(10):
        _check_parses_back(matcher, compiled, tokenizer, rng)


def test_the_automaton_says_every_expanded_sentence(tokenizer):
    """Each sentence the walk's expand gives, said as the recogniser would open it, is a sentence."""
    text = ("lists:\n  c: {values: [red, green, warm white]}\n  a: {values: [{in: \"(living room | lounge)\", "
            "out: living_room}, kitchen]}\nintents:\n  L:\n    data:\n      - sentences:\n"
            "          - \"(set | turn) [the] ({a}; <l>) [to] {c}\"\nexpansion_rules:\n  l: \"(light | lights)\"\n")
    grammar = load_grammar_text(text)
    compiled = compile_grammar(grammar, tokenizer)
    template = grammar.intents["L"].templates[0]
    ways = expand(template.tree, 10000, rules=grammar.rules, words=lambda t: t.split())
    said = 0
    for way in ways:
        fills = [[v.spoken for v in grammar.lists[p.list_name].values] if not isinstance(p, str) else [p]
                 for p in way]
        sentences = [""]
        for options in fills:
            sentences = [f"{s} {o}".strip() for s in sentences for o in options]
        for sentence in sentences:
            cursor = _said(compiled.automaton, tokenizer, sentence[:1].upper() + sentence[1:])
            assert cursor is not None and cursor.accept is not None, sentence
            said += 1
    assert said == count(template.tree, lambda s: len(grammar.lists[s.list_name].values), rules=grammar.rules)


# --- size -----------------------------------------------------------------------------------


def huge_grammar_text() -> str:
    """One intent, six optional slots of 10 to 20 values, in any order (three pairs, permuted):
    about 10^8 sentences."""
    sizes = {"size": 10, "shot": 12, "milk": 20, "syrup": 20, "topping": 20, "temp": 15}
    lines = ["lists:"]
    for name, n in sizes.items():
        values = ", ".join(f"{name}{_WORDS[k]}" for k in range(n))
        lines.append(f"  {name}: {{values: [{values}]}}")
    lines += ["intents:", "  Order:", "    data:", "      - sentences:",
              "          - \"make me a (([{size}] [{shot}]); ([with {milk}] [and {syrup}]); "
              "([{topping}] [{temp}])) coffee\""]
    return "\n".join(lines) + "\n"


def test_a_grammar_of_1e8_sentences_compiles_small_and_fast(tokenizer):
    grammar = load_grammar_text(huge_grammar_text())
    template = grammar.intents["Order"].templates[0]
    sentences = count(template.tree, lambda s: len(grammar.lists[s.list_name].values))
    assert sentences > 1e8
    tracemalloc.start()
    t0 = time.perf_counter()
    compiled = compile_grammar(grammar, tokenizer)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = compiled.stats()
    assert seconds < 2.0 and peak < 20e6, (seconds, peak, stats)
    assert stats["junctions"] < 500 and stats["trie_nodes"] < 2000, stats
    # and it says one of them
    matcher = Matcher(grammar)
    cursor = _said(compiled.automaton, tokenizer, "Make me a with sizeamber milkbasil sizeamber coffee")
    assert cursor is None or cursor.accept is None  # a slot twice: not a sentence
    text = _check_parses_back(matcher, compiled, tokenizer, random.Random(1))
    assert text.endswith("coffee")


def test_parse_template_keeps_permutations_for_the_automaton():
    """The 10^8 grammar's free order is a permutation node (not expanded by the parser)."""
    tree = parse_template("a (([{x}] [{y}]); ([{z}]))")
    assert type(tree.items[-1]).__name__ == "Perm"
