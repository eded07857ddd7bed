"""Per-clip runs through the daemon's path: a clip played at several places on the VAD's grid."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiced.evaluation.labels import load_labels
from voiced.evaluation.runner import collect_items, leads, run_items

REPO = Path(__file__).resolve().parent.parent
LABELS_PATH = REPO / "config" / "eval" / "commands.labels.json"


def test_offsets_spread_over_one_chunk():
    assert leads(1) == [0]
    assert leads(8) == [0, 64, 128, 192, 256, 320, 384, 448]
    assert leads(0) == [0]


def test_a_clip_at_two_offsets_is_two_results_shifted_by_the_lead(pipeline, speech_dir, tmp_path):
    name = "stp_lock_the_front_door.wav"
    (tmp_path / name).symlink_to(speech_dir / "commands" / name)
    labels = {k: v for k, v in load_labels(LABELS_PATH).items() if k == name}
    items, _ = collect_items(tmp_path, labels, LABELS_PATH)
    results = run_items(pipeline, items, offsets=2)
    assert [r.name for r in results] == [name, f"{name}@+256"]
    first, second = (r.utterances for r in results)
    assert [u.intent for u in first] == [u.intent for u in second] == ["LockLock"]
    # The same audio 256 samples later: the utterance starts the lead later, to the VAD's 32 ms chunk.
    assert second[0].start_s - first[0].start_s == pytest.approx(256 / 16000, abs=0.033)
    assert json.dumps(second[0].slots) == json.dumps(first[0].slots)


def test_the_forced_choice_config_publishes_the_models_best_sentence_for_any_speech(pipeline, eval_pipeline_for,
                                                                                   speech_dir):
    """config/eval/forced-choice.yaml measures the model's ceiling: a read sentence that is no
    command, which the shipped decision turns away, still comes out as some grammar sentence;
    a real command comes out as itself."""
    sentence = sorted((speech_dir / "sentences").glob("*.wav"))[0]
    shipped, _ = pipeline.run_path(sentence)
    assert shipped and not any(u.recognized for u in shipped)
    from voiced.config import load_config

    forced = eval_pipeline_for(load_config(REPO / "config" / "eval" / "forced-choice.yaml"))
    results, _ = forced.run_path(sentence)
    assert results and all(u.recognized and u.intent for u in results)
    command, _ = forced.run_path(speech_dir / "commands" / "stp_lock_the_front_door.wav")
    assert [u.intent for u in command] == ["LockLock"]
