"""`voiced segments` (utterances in a WAV file), `voiced devices` (microphones) and
`voiced bench vad` (CPU cost of always-on listening)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Tuple


def register(sub) -> None:
    seg = sub.add_parser("segments", help="print the utterances the VAD finds in a WAV file")
    seg.add_argument("file", type=Path, help="WAV file (any rate and channel count)")
    seg.add_argument("--config", type=Path, help="config file (YAML); its vad section is used")
    seg.set_defaults(func=cmd_segments)
    dev = sub.add_parser("devices", help="list audio input devices (index, name, channels, rates)")
    dev.set_defaults(func=cmd_devices)


def register_bench(bench) -> None:
    b = bench.add_parser("vad", help="CPU use of capture conversion + resampling + VAD on silence")
    b.add_argument("--minutes", type=float, default=60.0, help="audio minutes per input path (default 60)")
    b.add_argument("--config", type=Path, help="config file (YAML); its vad section is used")
    b.set_defaults(func=cmd_bench_vad)


def _config(path):
    from voiced.config import Config, load_config

    return load_config(path) if path else Config()


def _vad(config):
    from voiced.vad.silero import SileroVad

    return SileroVad.for_config(config)


# --- voiced segments ----------------------------------------------------------------------

def cmd_segments(args) -> int:
    from voiced.audio.wav import load_audio
    from voiced.vad.endpoint import segment_audio

    config = _config(args.config)
    audio = load_audio(args.file)
    for seg in segment_audio(audio, config.vad, _vad(config)):
        print(f"{seg.start_s:8.2f} {seg.end_s:8.2f} {seg.duration_s:7.2f}")
    return 0


# --- voiced devices -----------------------------------------------------------------------

def cmd_devices(args) -> int:
    from voiced.audio.mic import list_input_devices, load_pyaudio, native_stderr_muted

    pyaudio = load_pyaudio()  # AudioError with the install how-to when missing
    # Listing devices must not start a JACK server as a side effect (jack_client_open(3)).
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    # ALSA and JACK complain on stderr about every configuration PortAudio probes; -v shows it.
    with native_stderr_muted(args.verbose + getattr(args, "verbose_after", 0) == 0):
        pa = pyaudio.PyAudio()
        try:
            devices = list_input_devices(pa, pyaudio)
        finally:
            pa.terminate()
    if not devices:
        print("no audio input devices found")
        return 1
    print(f"{'index':>5}  {'channels':>8}  {'rates (Hz)':<30} name")
    for d in devices:
        rates = ",".join(str(r) for r in d.rates) or f"default {d.default_rate}"
        print(f"{d.index:>5}  {d.channels:>8}  {rates:<30} {d.name}")
    return 0


# --- voiced bench vad ---------------------------------------------------------------------

def cmd_bench_vad(args) -> int:
    config = _config(args.config)
    seconds = max(1.0, args.minutes * 60.0)
    print(f"always-on listening cost over {seconds / 60:.0f} min of low-level noise per path, "
          "processed as fast as possible (capture blocks -> int16 decode -> downmix -> resample "
          "-> Silero VAD -> endpointer)")
    for rate, channels in ((16000, 1), (48000, 2)):
        cpu, latencies, utterances = _bench_path(config, rate, channels, seconds)
        p50, p99 = _percentiles(latencies, (50, 99))
        print(f"{rate // 1000:>3} kHz {channels} ch: {100.0 * cpu / seconds:5.2f} % of one core; "
              f"per 32 ms block p50 {p50 * 1e6:5.0f} us, p99 {p99 * 1e6:5.0f} us; "
              f"utterances found: {utterances}")
    print("goal: at most 1 % of one core (timings on a shared machine are rough)")
    return 0


def _bench_path(config, rate: int, channels: int, seconds: float) -> Tuple[float, List[float], int]:
    import numpy as np

    from voiced.audio.pcm import PcmConverter
    from voiced.vad.endpoint import SPEECH_START, Endpointer

    block = rate * config.audio.chunk_ms // 1000
    rng = np.random.default_rng(0)
    # ten seconds of low-level noise (about -60 dBFS), cycled for the whole run
    pool = [(rng.normal(0.0, 30.0, block * channels)).astype("<i2").tobytes()
            for _ in range(int(10 * rate / block))]
    converter = PcmConverter(rate, channels, config.audio.channel)
    endpointer = Endpointer(config.vad, _vad(config))
    n_blocks = int(seconds * rate / block)
    latencies = [0.0] * n_blocks
    utterances = 0
    clock = time.perf_counter
    cpu0 = time.process_time()
    for i in range(n_blocks):
        t0 = clock()
        events = endpointer.feed(converter.convert(pool[i % len(pool)]))
        latencies[i] = clock() - t0
        utterances += sum(1 for e in events if e.kind == SPEECH_START)
    cpu = time.process_time() - cpu0
    return cpu * (seconds / (n_blocks * block / rate)), latencies, utterances


def _percentiles(values: List[float], qs) -> List[float]:
    import numpy as np

    return [float(v) for v in np.percentile(np.asarray(values), qs)]

