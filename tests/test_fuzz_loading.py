"""Fuzzing the readers: whatever the bytes, a config, grammar or WAV is read or rejected with the
project's own error (one line per problem, naming the file), never any other exception.

The inputs come from voiced.bench.fuzzing, which `voiced bench fuzz` runs by the hundred thousand;
here hypothesis drives the same generators with a derandomized Random so CI is reproducible.
"""
from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiced.cli import main
from voiced.errors import ProblemsError
from voiced.bench.fuzzing import EXPECTED, KINDS, Inputs, exercise, outcome

INPUTS = Inputs()
# About 25 s together on the 2-core development VM; grammar inputs also build a Matcher.
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input.wav"


def read_or_reject(kind: str, data: bytes, scratch) -> None:
    try:
        exercise(kind, data, scratch)
    except EXPECTED as exc:
        if isinstance(exc, ProblemsError):
            assert exc.problems
            for p in exc.problems:
                assert p.file == "fuzz.yaml" and p.message, p
                assert len(str(p).splitlines()) == 1, repr(str(p))  # one line per problem


@settings(max_examples=800, **FUZZ)
@given(rng=st.randoms(use_true_random=False))
def test_config_inputs(rng, scratch):
    read_or_reject("config", INPUTS.config_input(rng), scratch)


@settings(max_examples=600, **FUZZ)
@given(rng=st.randoms(use_true_random=False))
def test_grammar_inputs(rng, scratch):
    read_or_reject("grammar", INPUTS.grammar_input(rng), scratch)


@settings(max_examples=600, **FUZZ)
@given(rng=st.randoms(use_true_random=False))
def test_wav_inputs(rng, scratch):
    read_or_reject("wav", INPUTS.make("wav", rng), scratch)


@settings(max_examples=300, **FUZZ)
@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=400))
def test_raw_bytes(kind, data, scratch):
    read_or_reject(kind, data, scratch)


@pytest.mark.parametrize("kind", KINDS)
def test_the_generators_reach_both_outcomes(kind, scratch):
    """Inputs that are all rejected (or all accepted) would exercise only a reader's first check."""
    results = {outcome(kind, INPUTS.make(kind, random.Random(f"reach:{i}")), scratch)[0] for i in range(80)}
    assert len(results) == 2 and "crash" not in results, results


def test_outcome_counts_other_exceptions_as_crashes(scratch, monkeypatch):
    import voiced.bench.fuzzing

    def broken(kind, data, path):
        raise KeyError("x")

    monkeypatch.setattr(voiced.bench.fuzzing, "exercise", broken)
    result, exc = outcome("config", b"", scratch)
    assert result == "crash" and isinstance(exc, KeyError)


def test_bench_fuzz_prints_rates_and_outcomes(capsys):
    assert main(["bench", "fuzz", "--count", "9", "--seed", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("fuzz: 9 inputs (kind all, seed 3) in ") and out[0].endswith(" inputs/s")
    assert [line.split()[0] for line in out[1:4]] == ["grammar", "config", "wav"]
    assert out[4] == "crashes: 0"


def test_bench_fuzz_counts_a_hanging_reader_as_a_crash(capsys, monkeypatch, tmp_path):
    import voiced.bench.fuzzing

    def hang(kind, data, path):
        time.sleep(30)

    monkeypatch.setattr(voiced.bench.fuzzing, "exercise", hang)
    assert main(["bench", "fuzz", "--count", "2", "--kind", "config", "--timeout", "0.2",
                 "--save", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "crashes: 2" in out and "InputTimeout at " in out and "(first: config input 0)" in out
    assert [p.name for p in tmp_path.iterdir()] == ["crash-001-config.yaml"]
