"""Thread plans per board, config overrides, and the affinity string onnxruntime accepts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from voiced.asr.sessions import SessionSettings, _affinity_entry, make_session_options
from voiced.runtime.board import detect_board
from voiced.cli import main
from voiced.commands.board import candidates, pick_best, score, update_model_settings, write_model_settings
from voiced.config import ModelConfig, load_config
from voiced.errors import ConfigError
from voiced.runtime.threads import affinity_supported, plan_threads

VAD_MODEL = Path(__file__).resolve().parent.parent / "voiced" / "data" / "silero_vad_16k_op15.onnx"
MACHINES = {"pi-zero-2w": "armv7l", "pi3": "aarch64", "pi4": "aarch64", "pi5": "aarch64",
            "rk3588-rock5b": "aarch64", "x86-epyc-vm": "x86_64"}


def board(fixtures_dir, name):
    return detect_board(fixtures_dir / "boards" / name, machine=MACHINES[name])


@pytest.mark.parametrize("name", ["pi-zero-2w", "pi3", "pi4", "pi5"])
def test_four_core_pis_leave_one_core_and_pin_workers_to_the_last_two(fixtures_dir, name):
    plan = plan_threads(board(fixtures_dir, name), ModelConfig(), ort_version="1.31.0")
    assert plan.asr == SessionSettings(intra_op_threads=3, inter_op_threads=1, affinity=(2, 3), spinning=False)
    assert plan.vad.intra_op_threads == 1 and plan.vad.affinity is None
    assert "one left for audio and VAD" in plan.reason


def test_rk3588_uses_all_four_a76_because_the_a55_take_audio(fixtures_dir):
    plan = plan_threads(board(fixtures_dir, "rk3588-rock5b"), ModelConfig(), ort_version="1.31.0")
    assert plan.asr.intra_op_threads == 4
    assert plan.asr.affinity == (5, 6, 7)
    assert "little cores 0-3" in plan.reason


def test_x86_is_not_pinned(fixtures_dir):
    plan = plan_threads(board(fixtures_dir, "x86-epyc-vm"), ModelConfig(), ort_version="1.31.0")
    assert plan.asr.intra_op_threads == 2 and plan.asr.affinity is None


def test_old_onnxruntime_is_not_pinned(fixtures_dir):
    assert not affinity_supported("1.13.1", platform="linux")
    assert affinity_supported("1.14.0", platform="linux")
    assert not affinity_supported("1.31.0", platform="darwin")
    plan = plan_threads(board(fixtures_dir, "pi4"), ModelConfig(), ort_version="1.13.1")
    assert plan.asr.affinity is None and "cannot set thread affinity" in plan.reason


def test_config_overrides_win(fixtures_dir):
    model = ModelConfig(intra_op_threads=2, inter_op_threads=2, affinity=[1], spinning=True, vad_threads=2)
    plan = plan_threads(board(fixtures_dir, "pi4"), model, ort_version="1.31.0")
    assert plan.asr == SessionSettings(intra_op_threads=2, inter_op_threads=2, affinity=(1,), spinning=True)
    assert plan.vad.intra_op_threads == 2
    assert "from the config" in plan.reason


def test_affinity_naming_a_missing_cpu_is_a_config_error(fixtures_dir):
    with pytest.raises(ConfigError) as err:
        plan_threads(board(fixtures_dir, "pi4"), ModelConfig(affinity=[2, 7]), ort_version="1.31.0")
    assert "model.affinity" in str(err.value) and "CPU 7" in str(err.value) and "0-3" in str(err.value)


def test_affinity_entry_is_one_based_and_has_threads_minus_one_entries():
    settings = SessionSettings(intra_op_threads=3, affinity=(4, 5, 6, 7))
    assert _affinity_entry(settings) == "7;8"
    assert _affinity_entry(SessionSettings(intra_op_threads=4, affinity=(0,))) is None


def test_onnxruntime_accepts_the_planned_affinity_on_this_machine():
    import onnxruntime as ort

    cpus = sorted(__import__("os").sched_getaffinity(0))
    settings = SessionSettings(intra_op_threads=len(cpus) + 1, affinity=tuple(cpus))
    opts = make_session_options(settings)
    assert opts.get_session_config_entry("session.intra_op_thread_affinities") == ";".join(
        str(c + 1) for c in cpus)
    session = ort.InferenceSession(str(VAD_MODEL), opts, providers=["CPUExecutionProvider"])
    assert {i.name for i in session.get_inputs()} == {"input", "state", "sr"}


def test_onnxruntime_rejects_a_wrong_entry_count():
    # The check behind the threads-1 rule: a mismatched count fails at session creation.
    import onnxruntime as ort

    opts = make_session_options(SessionSettings(intra_op_threads=3))
    opts.add_session_config_entry("session.intra_op_thread_affinities", "1")
    with pytest.raises(Exception, match="thread_pool_size minus one"):
        ort.InferenceSession(str(VAD_MODEL), opts, providers=["CPUExecutionProvider"])


def test_vad_threads_is_a_validated_setting():
    assert load_config(text="model:\n  vad_threads: 2\n").model.vad_threads == 2
    with pytest.raises(ConfigError, match="vad_threads"):
        load_config(text="model:\n  vad_threads: 0\n")


def test_info_prints_board_plan_model_and_versions(fixtures_dir, capsys):
    assert main(["info", "--root", str(fixtures_dir / "boards" / "rk3588-rock5b")]) == 0
    out = capsys.readouterr().out
    assert "Radxa ROCK 5B" in out and "Cortex-A76" in out
    assert "dot-product: yes" in out
    assert "recogniser" in out and "VAD 1 thread" in out
    assert "model:" in out and "onnxruntime" in out and "python" in out


def test_tune_candidates_and_choice(fixtures_dir):
    pi4 = board(fixtures_dir, "pi4")
    pairs = candidates(pi4)
    assert (1, None) in pairs and (4, (1, 2, 3)) in pairs and (2, (3,)) in pairs
    assert candidates(board(fixtures_dir, "x86-epyc-vm")) == [(1, None), (2, None)]
    rows = [(1, None, {"encode_3s_ms": 400.0, "decode_ms_per_token": 20.0}),
            (2, None, {"encode_3s_ms": 250.0, "decode_ms_per_token": 15.0}),
            (3, (2, 3), {"encode_3s_ms": 240.0, "decode_ms_per_token": 15.0})]
    assert score(rows[0][2]) == 400.0 + 12 * 20.0
    assert pick_best(rows)[0] == 2  # within 5 % of the fastest: fewer threads win


CONFIG = """\
# voiced config
site_id: kitchen   # where it lives
model:
  # recogniser
  path: null
  intra_op_threads: 4   # set by hand
mqtt:
  host: broker.lan
"""


def test_update_model_settings_keeps_comments_and_other_keys():
    new = update_model_settings(CONFIG, {"intra_op_threads": 2, "affinity": [2, 3]})
    assert "intra_op_threads: 2  # set by hand" in new
    assert "  affinity: [2, 3]\n" in new
    for line in ("# voiced config", "site_id: kitchen   # where it lives", "  # recogniser", "  host: broker.lan"):
        assert line in new
    config = load_config(text=new)
    assert config.model.intra_op_threads == 2 and config.model.affinity == [2, 3]
    assert config.mqtt.host == "broker.lan"
    again = update_model_settings(new, {"intra_op_threads": 1, "affinity": None})
    assert load_config(text=again).model.affinity is None


def test_update_model_settings_adds_a_model_section():
    new = update_model_settings("site_id: hall\n", {"intra_op_threads": 3, "affinity": None})
    assert load_config(text=new).model.intra_op_threads == 3 and "affinity" not in new


def test_write_model_settings_refuses_inline_model(tmp_path):
    path = tmp_path / "voiced.yaml"
    path.write_text("model: {path: null}\n")
    with pytest.raises(ConfigError, match="inline"):
        write_model_settings(path, {"intra_op_threads": 2})
    assert path.read_text() == "model: {path: null}\n"


def test_write_model_settings_writes_the_file(tmp_path):
    path = tmp_path / "voiced.yaml"
    path.write_text(CONFIG)
    write_model_settings(path, {"intra_op_threads": 2, "affinity": None})
    assert load_config(path).model.intra_op_threads == 2
    assert dataclasses.asdict(load_config(path).mqtt)["host"] == "broker.lan"
