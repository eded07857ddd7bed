"""Shared test fixtures: the real speech corpus and the real models that exist offline."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from mqtt_support import Broker

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _speech_dir() -> Path:
    return Path(os.environ.get("VOICED_SPEECH_DIR", REPO.parent / "shared" / "speech"))


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """../shared/speech: real human speech with transcripts (see its README)."""
    path = _speech_dir()
    if not (path / "manifest.tsv").exists():
        pytest.fail(f"speech corpus not found at {path}; set VOICED_SPEECH_DIR")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


# --- a real mosquitto on loopback --------------------------------------------------------

@pytest.fixture
def mosquitto_factory(tmp_path_factory):
    """Start brokers: factory(persistence=, users={name: password}, tls=make_tls_files(dir)).
    Each is stopped at the end of the test."""
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (apt install mosquitto)")
    brokers = []

    def factory(**kwargs) -> Broker:
        broker = Broker(tmp_path_factory.mktemp("mosquitto"), **kwargs)
        brokers.append(broker)
        return broker.start()

    yield factory
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory) -> Broker:
    """A plain anonymous broker on a free loopback port."""
    return mosquitto_factory()


# --- speech models ----------------------------------------------------------------------

TINY_TWIN = FIXTURES / "models" / "moonshine-v2-tiny-test"


@pytest.fixture
def unsearched_config(tmp_path) -> str:
    """A config with the shipped grammar whose rescorer does not search it (`rescoring.constrained:
    off`): what the rescoring gaps and the gate do without the grammar search of the default."""
    from voiced.grammar.loader import shipped_grammar_path

    config = tmp_path / "unsearched.yaml"
    config.write_text(f"grammar: {{paths: ['{shipped_grammar_path()}']}}\nrescoring: {{constrained: 'off'}}\n")
    return str(config)


@pytest.fixture(scope="session")
def base_en_model():
    """ModelFiles of the real Moonshine base-en (v1) from the moonshine-cpp wheel."""
    from voiced.asr.models import find_dev_model

    files = find_dev_model()
    if files is None:
        pytest.fail("moonshine-cpp / useful-moonshine-onnx are not installed (pip install -e .[test])")
    return files


@pytest.fixture(scope="session")
def base_en_transcriber(base_en_model):
    """One warmed base-en Transcriber shared by every test (loading takes seconds)."""
    from voiced.asr.transcriber import Transcriber

    return Transcriber(base_en_model)


@pytest.fixture(scope="module")
def kitchen_green(base_en_transcriber, speech_dir):
    """The shared base-en transcriber after one real command ("set kitchen lights to green"),
    and that utterance's encoder states: what the scoring tests score sentences on."""
    from voiced.audio.wav import load_audio

    base_en_transcriber.transcribe(load_audio(speech_dir / "commands" / "stp_set_kitchen_lights_to_green.wav"))
    return base_en_transcriber, base_en_transcriber.encoder_states()


@pytest.fixture(scope="session")
def eval_pipeline_for(base_en_model):
    """Builds the daemon's stages as `voiced eval` runs them, for a given config, on base-en."""
    from voiced.daemon import load_matcher
    from voiced.evaluation.runner import EvalPipeline
    from voiced.runtime.threads import plan_for_config

    def build(config):
        _, matcher = load_matcher(config)
        _, plan = plan_for_config(config.model)
        return EvalPipeline(config, matcher, base_en_model, plan.asr, 1)

    return build


@pytest.fixture(scope="module")
def pipeline(eval_pipeline_for):
    """The daemon's stages as `voiced eval` runs them: default config, the shipped grammar, base-en."""
    import dataclasses

    from voiced.config import Config
    from voiced.paths import SHIPPED_GRAMMAR

    config = Config()
    return eval_pipeline_for(dataclasses.replace(config, grammar=dataclasses.replace(
        config.grammar, paths=[str(SHIPPED_GRAMMAR)])))


@pytest.fixture(scope="session")
def tiny_twin_model():
    """ModelFiles of the random-weight v2 twin committed under tests/fixtures/models."""
    from voiced.asr.models import load_model_dir

    return load_model_dir(TINY_TWIN, "test fixture")
