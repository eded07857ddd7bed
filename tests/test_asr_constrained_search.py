"""Beam search of the decoder inside the grammar automaton, on real base-en audio and on the v2
twin: it finds what exhaustive teacher-forced scoring ranks first, its scores are those
scores, and whatever it returns the matcher parses to the same intent and slots."""
from __future__ import annotations

import time
from typing import List, Tuple

import numpy as np
import pytest

from test_asr_constrained import huge_grammar_text
from voiced.asr.constrained import SearchSettings, SearchStats, compile_grammar, search
from voiced.asr.scoring import SequenceScorer
from voiced.asr.scoring.growth import BatchGrowth, TreeGrowth, UncachedGrowth
from voiced.asr.scoring.steps import Tree, Uncached
from voiced.grammar import Matcher, load_grammar_text

SMALL = """
lists:
  color: {values: [red, green, blue, warm white]}
  area: {values: [kitchen, office, {in: "(living room | lounge)", out: living_room}]}
  minutes: {range: {from: 1, to: 20}}
expansion_rules:
  light: "(light | lights)"
intents:
  LightColor:
    data:
      - sentences: ["(set | turn) [the] {area} <light> [to] {color}", "(set | turn) [the] <light> in [the] {area} to {color}"]
  LightOn:
    data:
      - sentences: ["turn on [the] {area} <light>"]
  TimerStart:
    data:
      - sentences: ["set a timer for {minutes} minutes"]
"""


def _grammar():
    return load_grammar_text(SMALL)


@pytest.fixture(scope="module")
def small(base_en_model):
    from voiced.asr.tokenizer import Tokenizer

    grammar = _grammar()
    return Matcher(grammar), compile_grammar(grammar, Tokenizer(base_en_model.tokenizer))


def _language(compiled) -> List[Tuple[Tuple[int, ...], object]]:
    """Every sentence of a small automaton: (tokens, trail)."""
    a = compiled.automaton
    out = []
    stack = [((), a.start())]
    while stack:
        tokens, cursor = stack.pop()
        if cursor.accept is not None:
            out.append((tokens, cursor.accept[0]))
        for token in a.tokens(cursor).tolist():
            stack.append((tokens + (token,), a.advance(cursor, token)))
    return out


def _parses_back(matcher, tokenizer, found):
    for sentence in found:
        result = matcher.match(tokenizer.decode(sentence.tokens))
        assert result.recognized and result.intent == sentence.intent, (sentence, result.to_dict())
        assert {k: v.value for k, v in result.slots.items()} == {k: s.value for k, s in sentence.slots.items()}


def test_the_search_ranks_as_exhaustive_scoring_does(kitchen_green, small):
    """Every sentence of the small grammar (all spellings: thousands) scored under teacher
    forcing; the search's best few are the exhaustive best few, with the same scores."""
    transcriber, states = kitchen_green
    matcher, compiled = small
    scorer = transcriber.scorer(int8=True)
    language = _language(compiled)
    assert 1000 < len(language) < 20000
    sequences = [list(t) for t, _ in language]
    scores = []
    for k in range(0, len(sequences), 400):
        scores += scorer.score(states, sequences[k:k + 400])
    ranked = sorted(zip((s.normalized(0.5) for s in scores), (t for t, _ in language)), reverse=True)
    stats = SearchStats()
    found = search(compiled, scorer.growth(states), scorer.end_ids, SearchSettings(beam=8, results=3), stats)
    assert [s.tokens for s in found] == [t for _, t in ranked[:3]]
    # The 8-bit step quantises each call's rows together, so a score moves a little with the
    # other rows of its call: here 400 sentences in one, there a few prefixes per call.
    for sentence, (best, _) in zip(found, ranked):
        assert sentence.normalized(0.5) == pytest.approx(best, abs=0.1)
    assert transcriber.tokenizer.decode(found[0].tokens) == "Set kitchen lights to green"
    assert found[0].intent == "LightColor"
    assert {k: s.value for k, s in found[0].slots.items()} == {"area": "kitchen", "color": "green"}
    _parses_back(matcher, transcriber.tokenizer, found)
    assert stats.calls < 10 and stats.rows < 60, stats  # tens of rows, not thousands of sentences


def test_tree_and_batch_growth_give_the_rows_of_whole_prefixes(kitchen_green):
    """Each way of growing gives, after a chain, the rows the uncached graph gives for the whole prefix."""
    transcriber, states = kitchen_green
    scorer = transcriber.scorer(int8=True)
    assert isinstance(scorer.steps, Tree)
    prefixes = [transcriber.tokenizer.encode(s) for s in ("Set kitchen", "Set the", "Turn")]
    reference = UncachedGrowth(Uncached(transcriber.decoder), states)
    _, want = reference.grow([()] * 3, prefixes)
    tree = TreeGrowth(scorer.steps, states)
    handles, got = tree.grow([()] * 3, [p[:1] for p in prefixes])
    more = [(h, p[1:]) for h, p in zip(handles, prefixes) if len(p) > 1]
    _, rest = tree.grow([h for h, _ in more], [c for _, c in more])
    rows = [np.concatenate([g, r]) for g, r in zip(got, rest)] + got[len(more):]
    for w, g in zip(want, rows):
        top = np.argsort(-w, axis=1)[:, :5]  # the likely next tokens: 8-bit rows against float rows
        assert np.abs(np.take_along_axis(g - w, top, axis=1)).max() < 0.15
    batch = BatchGrowth(transcriber.scorer(int8=False).steps, states)
    handles, first = batch.grow([()] * 3, [p[:1] for p in prefixes])
    _, second = batch.grow(handles[:2], [p[1:2] for p in prefixes[:2]])
    for w, a, b in zip(want, first, second + [None]):
        assert np.abs(a[0] - w[0]).max() < 2e-3
        if b is not None:
            assert np.abs(b[0] - w[1]).max() < 2e-3


def test_a_1e8_sentence_grammar_decodes_quickly(kitchen_green, base_en_model):
    from voiced.asr.tokenizer import Tokenizer

    transcriber, states = kitchen_green
    grammar = load_grammar_text(huge_grammar_text())
    compiled = compile_grammar(grammar, Tokenizer(base_en_model.tokenizer))
    scorer = transcriber.scorer(int8=True)
    t0 = time.perf_counter()
    found = search(compiled, scorer.growth(states), scorer.end_ids, SearchSettings(beam=8))
    assert time.perf_counter() - t0 < 3.0
    assert found and all(s.intent == "Order" for s in found)
    _parses_back(Matcher(grammar), transcriber.tokenizer, found)


# --- v2 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twin(tiny_twin_model, speech_dir):
    from voiced.asr.transcriber import Transcriber
    from voiced.audio.wav import load_audio

    transcriber = Transcriber(tiny_twin_model, encode_interval_s=0.2)
    transcriber.transcribe(load_audio(speech_dir / "commands" / "stp_set_kitchen_lights_to_green.wav"))
    return transcriber, transcriber.encoder_states()


def test_v2_searches_as_a_batch_with_teacher_forced_scores(twin):
    """Random weights say nothing sensible, but the search still says only grammar sentences,
    and their scores are what scoring the same tokens gives."""
    transcriber, states = twin
    grammar = _grammar()
    compiled = compile_grammar(grammar, transcriber.tokenizer)
    scorer = transcriber.scorer()
    growth = scorer.growth(states)
    assert isinstance(growth, BatchGrowth) and growth.chain == 1
    found = search(compiled, growth, scorer.end_ids, SearchSettings(beam=4, results=4, stop_gap=100.0))
    assert len(found) == 4
    _parses_back(Matcher(grammar), transcriber.tokenizer, found)
    again = scorer.score(states, [list(s.tokens) for s in found])
    for sentence, score in zip(found, again):
        assert sentence.score.count == score.count
        assert sentence.score.total == pytest.approx(score.total, rel=1e-3)  # 8-bit: quantised per call
    # The fallback every decoder runs: whole prefixes through the uncached graph on every call.
    steps = Uncached(transcriber.decoder)
    uncached = search(compiled, UncachedGrowth(steps, states), scorer.end_ids,
                      SearchSettings(beam=4, results=4, stop_gap=100.0))
    _parses_back(Matcher(grammar), transcriber.tokenizer, uncached)
    again = SequenceScorer(steps, scorer.end_ids).score(states, [list(s.tokens) for s in uncached])
    for sentence, score in zip(uncached, again):
        assert sentence.score.total == pytest.approx(score.total, rel=1e-3)


def test_a_floor_ends_the_search_early(kitchen_green, small):
    """Prefixes ranked below the floor are dropped: with the floor a little under the best
    sentence (a prefix's rank can be well below its sentence's score: "Set" fits the audio's
    "So," badly, what follows well), the search finds it in fewer rows; above every sentence,
    it finds nothing."""
    transcriber, states = kitchen_green
    _, compiled = small
    scorer = transcriber.scorer(int8=True)
    wide, narrow = SearchStats(), SearchStats()
    best = search(compiled, scorer.growth(states), scorer.end_ids, SearchSettings(), wide)[0]
    found = search(compiled, scorer.growth(states), scorer.end_ids,
                   SearchSettings(floor=best.normalized(0.5) - 2.5), narrow)
    assert found[0].tokens == best.tokens and narrow.rows < wide.rows
    assert search(compiled, scorer.growth(states), scorer.end_ids, SearchSettings(floor=0.0)) == []


ORDER = """
lists:
  size: {values: [small, medium, large]}
  drink: {values: [latte, mocha, cappuccino, {in: iced tea, out: iced_tea}]}
intents:
  OrderDrink:
    data:
      - sentences: ["[i'd like | can i get] [a | an] [{size}] [{drink}] [please]"]
"""


def test_a_template_of_only_optional_words_finishes_only_with_a_slot(base_en_transcriber, speech_dir):
    """Every word of the order is optional, so "A" and "I'd like" are sentences of it; on a word
    of read speech ("Missive.", LibriSpeech) they are the search's best, and finished first they
    would cut off every real order trailing them. Only sentences that say a slot value finish."""
    import dataclasses

    from voiced.asr.tokenizer import Tokenizer
    from voiced.audio.wav import load_audio

    audio = load_audio(speech_dir / "negatives" / "librispeech_excerpts_005.wav")[42 * 16000:int(43.1 * 16000)]
    base_en_transcriber.transcribe(audio)
    states = base_en_transcriber.encoder_states()
    scorer = base_en_transcriber.scorer(int8=True)
    compiled = compile_grammar(load_grammar_text(ORDER), Tokenizer(base_en_transcriber.files.tokenizer))
    assert compiled.optional_only == {("OrderDrink", 0)}
    found = search(compiled, scorer.growth(states), scorer.end_ids, SearchSettings(beam=8))
    assert found and all(s.slots for s in found)
    bare = search(dataclasses.replace(compiled, optional_only=frozenset()), scorer.growth(states), scorer.end_ids,
                  SearchSettings(beam=8))
    assert not bare[0].slots  # without the rule: "A"
