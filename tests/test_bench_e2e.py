"""`voiced bench e2e` end to end: one real command through the whole daemon, both modes, a real
mosquitto started by the benchmark. Only what it reports is checked, never how fast."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed")
def test_bench_e2e_reports_both_modes(speech_dir):
    clip = speech_dir / "commands" / "stp_lock_the_front_door.wav"
    # The default model: the cached default, else the development base-en (a real model either way).
    proc = subprocess.run([sys.executable, "-m", "voiced", "bench", "e2e", "--files", str(clip), "--json",
                           "--rescoring", "off"], capture_output=True, text=True, timeout=280, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] and report["threads"] == 1 and report["rescoring"] == "off"
    # the mode reaches the daemon: no rescorer is built
    assert report["naive"]["rescorer"] is False and report["speculative"]["rescorer"] is False
    for name in ("naive", "speculative"):
        mode = report[name]
        assert mode["utterances"] == mode["published"] == 1, mode
        for key in ("endpoint_to_message_ms", "speech_end_to_message_ms"):
            assert set(mode[key]) == {"p50_ms", "p95_ms"} and mode[key]["p50_ms"] is not None
        for key in ("speech_load_pct", "idle_cpu_pct", "peak_rss_mb", "tokens_decoded_mean", "asr_compute_ms_p50"):
            assert mode[key] is not None, key
        assert "door" in mode["transcripts"][0].lower()
    # The `speculative` setting reaches the daemon: used in one mode only.
    assert report["naive"]["speculation_used"] == 0 and report["speculative"]["speculation_used"] == 1
    assert report["naive"]["transcripts"] == report["speculative"]["transcripts"]


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed")
def test_bench_e2e_names_a_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "voiced", "bench", "e2e", "--files", str(tmp_path / "nope.wav")],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 78 and "nope.wav" in proc.stderr and "Traceback" not in proc.stderr
