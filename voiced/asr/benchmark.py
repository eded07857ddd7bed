"""Speed and memory of the recogniser on this machine (`voiced bench asr`)."""
from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from voiced.asr.models import ModelFiles
from voiced.asr.scoring.growth import greedy_decode
from voiced.asr.sessions import SessionSettings
from voiced.asr.transcriber import SAMPLE_RATE, Transcriber
from voiced.paths import DEMO_RECORDING

"""Real spoken commands shipped with a checkout; the default speech for the benchmark."""


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes vs KiB


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def load_speech(path: Optional[Path] = None) -> np.ndarray:
    from voiced.audio.wav import load_audio

    return load_audio(path or DEMO_RECORDING)


def measure_asr(files: ModelFiles, settings: SessionSettings = SessionSettings(), repeats: int = 3,
                speech: Optional[np.ndarray] = None, int8_decode: bool = True) -> Dict[str, float]:
    """Encoder latency for 3 s and 6 s of speech, decoder step costs, real-time factor and peak
    RSS; for a streaming (v2) model also the incremental encoding load while someone speaks."""
    speech = load_speech() if speech is None else speech
    t0 = time.perf_counter()
    transcriber = Transcriber(files, settings, int8_decode=int8_decode)
    results: Dict[str, float] = {"load_ms": (time.perf_counter() - t0) * 1000.0}
    encoder = transcriber.encoding.encoder
    clips = {s: np.resize(speech, s * SAMPLE_RATE).astype(np.float32) for s in (3, 6)}  # cut or looped
    for seconds, clip in clips.items():
        results[f"encode_{seconds}s_ms"] = _median_ms(lambda c=clip: encoder.encode(c), repeats)
    runs = [transcriber.transcribe(clips[6]) for _ in range(max(1, repeats))]
    results["rtf"] = statistics.median(r.timings["total"] for r in runs) / 6000.0
    results["tokens"] = runs[0].timings["n_tokens"]
    # Step costs over the full token budget whatever the text: an early EOS would leave nothing to time.
    states = transcriber.encoder_states()
    budget = transcriber.decoder.budget(6.0, transcriber.max_tokens_per_second)
    steps = [transcriber.decoder.decode(states, budget, stop_at_eos=False) for _ in range(max(1, repeats))]
    results["first_step_ms"] = statistics.median(r.first_step_ms for r in steps)
    results["decode_ms_per_token"] = statistics.median(r.ms_per_token for r in steps)
    greedy = transcriber.greedy_steps()
    if greedy is not None:  # base-en: the 8-bit step the daemon decodes on
        fast = [greedy_decode(greedy, states, budget, stop_at_eos=False) for _ in range(max(1, repeats))]
        results["int8_decode_ms_per_token"] = statistics.median(r.ms_per_token for r in fast)
    results["timed_tokens"] = float(budget)
    if transcriber.geometry is not None:
        results.update(_incremental_load(transcriber, clips[6], repeats))
    results["peak_rss_mib"] = peak_rss_mib()
    return results


def _incremental_load(transcriber: Transcriber, clip: np.ndarray, repeats: int) -> Dict[str, float]:
    """Cost of one incremental encode (left context + interval + lookahead) per interval of
    speech, and the finalize-time tail encode, measured on `clip` looped to 12 s."""
    inc = transcriber.encoding
    geometry = transcriber.geometry
    window = (geometry.left_context + inc.interval_frames + geometry.lookahead) * geometry.hop_samples
    long_clip = np.resize(clip, 12 * SAMPLE_RATE).astype(np.float32)
    call_ms = _median_ms(lambda: inc.encoder.encode(long_clip[:window]), repeats)
    interval_s = inc.interval_frames / geometry.frame_rate

    transcriber.reset()
    for i in range(0, len(long_clip), 512):  # 32 ms blocks, as the microphone delivers them
        transcriber.feed(long_clip[i:i + 512])
    before = inc.stats.ms
    transcriber.encoder_states()
    tail_ms = inc.stats.ms - before
    return {
        "incremental_interval_s": interval_s,
        "incremental_context_s": geometry.left_context / geometry.frame_rate,
        "incremental_lookahead_ms": geometry.lookahead * 1000.0 / geometry.frame_rate,
        "incremental_call_ms": call_ms,
        "incremental_load": call_ms / (interval_s * 1000.0),
        "finalize_tail_encode_12s_ms": tail_ms,
        "oneshot_encode_12s_ms": _median_ms(lambda: inc.encoder.encode(long_clip), 1),
    }
