"""`voiced transcribe FILE.wav` and `voiced bench asr`."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import List, Optional

from voiced.errors import AudioError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "transcribe", help="print what is said in a WAV file",
        description="Transcribe a WAV file (any sample rate, channel count, 16/32-bit or float PCM). "
                    "Speech is cut out with the VAD exactly as the daemon does, one line per utterance.")
    p.add_argument("wav", type=Path, metavar="FILE.wav")
    _model_args(p)
    p.add_argument("--config", type=Path, help="config file (model and VAD settings); default: built-in defaults")
    p.add_argument("--no-vad", action="store_true", help="transcribe the whole file as one utterance")
    p.add_argument("--timings", action="store_true", help="also print encode/decode times per utterance")
    p.set_defaults(func=transcribe_command)


def register_bench(bench_subparsers) -> None:
    p = bench_subparsers.add_parser(
        "asr", help="speech recogniser latency, real-time factor and memory",
        description="Encoder latency for 3 s and 6 s of real speech, first decoder step, decoder ms per "
                    "token, real-time factor and peak RSS (and, for streaming models, the incremental "
                    "encoding load). Numbers depend on what else runs on the machine.")
    _model_args(p)
    p.add_argument("--audio", type=Path, help="speech to cut or loop to length (default: the demo recording)")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is printed")
    p.set_defaults(func=bench_command)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: see README, Models)")
    p.add_argument("--threads", type=int, metavar="N", help="onnxruntime intra-op threads")


def _settings(threads: Optional[int], model_config=None):
    from voiced.asr.sessions import SessionSettings

    if threads is None and model_config is not None:
        threads = model_config.intra_op_threads
    if threads is None:
        threads = min(4, os.cpu_count() or 1)
    extra = {}
    if model_config is not None:
        extra = dict(inter_op_threads=model_config.inter_op_threads, spinning=model_config.spinning,
                     affinity=tuple(model_config.affinity) if model_config.affinity else None)
    return SessionSettings(intra_op_threads=max(1, threads), **extra)


def _resolve(model: Optional[Path], config=None):
    from voiced.asr.models import resolve_model

    if model is not None:
        return resolve_model(model, origin="--model")
    if config is not None and config.model.path:
        return resolve_model(config.resolve(config.model.path), origin=f"model.path in {config.source_path}")
    return resolve_model()


def transcribe_command(args: argparse.Namespace) -> int:
    from voiced.asr.transcriber import Transcriber
    from voiced.audio.wav import load_audio
    from voiced.config import load_config

    config = load_config(args.config)
    audio = load_audio(args.wav)
    if not len(audio):
        raise AudioError(f"{args.wav}: the file holds no audio samples")
    files = _resolve(args.model, config)
    transcriber = Transcriber(files, _settings(args.threads, config.model),
                              max_tokens_per_second=config.model.max_tokens_per_second,
                              int8_decode=config.model.int8_decode)
    for text, timing in _utterances(transcriber, audio, config, args.no_vad):
        print(f"{text}\t[{timing}]" if args.timings else text)
    return 0


def _utterances(transcriber, audio, config, whole: bool) -> List[tuple]:
    if whole:
        pieces = [(0.0, audio)]
    else:
        from voiced.vad.endpoint import segment_audio
        from voiced.vad.silero import SileroVad

        pieces = [(seg.start_s, seg.audio) for seg in segment_audio(audio, config.vad, SileroVad.for_config(config))]
        if not pieces:
            log.warning("no speech found (VAD threshold %.2f); try --no-vad", config.vad.threshold)
    out = []
    for start_s, piece in pieces:
        result = transcriber.transcribe(piece)
        t = result.timings
        out.append((result.text, f"{start_s:.2f}s +{result.audio_s:.2f}s encode {t['encode']:.0f} ms, "
                                 f"decode {t['decode']:.0f} ms ({t['n_tokens']:.0f} tokens)"))
    return out


def bench_command(args: argparse.Namespace) -> int:
    from voiced.asr.benchmark import load_speech, measure_asr
    from voiced.asr.geometry import describe

    files = _resolve(args.model)
    settings = _settings(args.threads)
    results = measure_asr(files, settings, repeats=args.repeats, speech=load_speech(args.audio))
    print(f"model {files.name} ({files.layout}) from {files.directory} [{files.source}]")
    print(f"threads {settings.intra_op_threads}, repeats {args.repeats} (medians)")
    print(f"load + warm-up         {results['load_ms']:8.0f} ms")
    print(f"encode 3 s of speech   {results['encode_3s_ms']:8.0f} ms")
    print(f"encode 6 s of speech   {results['encode_6s_ms']:8.0f} ms")
    print(f"decoder first step     {results['first_step_ms']:8.1f} ms")
    print(f"decoder per token      {results['decode_ms_per_token']:8.1f} ms  (over {results['timed_tokens']:.0f} steps)")
    if "int8_decode_ms_per_token" in results:
        print(f"  on the 8-bit step    {results['int8_decode_ms_per_token']:8.1f} ms  (model.int8_decode: how it decodes)")
    print(f"real-time factor (6 s) {results['rtf']:8.3f}  (transcribing; {results['tokens']:.0f} decoder steps)")
    if "incremental_load" in results:
        from voiced.asr.geometry import geometry_from_config

        print(describe(geometry_from_config(files.config))[0])
        print(f"incremental encode every {results['incremental_interval_s']:.2f} s: "
              f"{results['incremental_call_ms']:.0f} ms per call, load {results['incremental_load']:.2f} "
              f"(share of wall time the encoder is busy while someone speaks)")
        print(f"12 s utterance: tail encode at finalize {results['finalize_tail_encode_12s_ms']:.0f} ms "
              f"vs one-shot {results['oneshot_encode_12s_ms']:.0f} ms")
    print(f"peak RSS               {results['peak_rss_mib']:8.0f} MiB")
    return 0
