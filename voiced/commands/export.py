"""`voiced export OUT_DIR`: Moonshine v2 streaming from PyTorch to the INT8 ONNX layout.

Either a transformers checkpoint (`--checkpoint DIR`) or a randomly initialised named shape
(`--random-init small|tiny-test`): a "twin" with the real model's shapes, operators and
compute but meaningless output, for tests and benchmarks. Needs the `export` extra.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from voiced.errors import EXIT_OK, ModelError
from voiced.export.configs import CONFIGS



def register(sub) -> None:
    p = sub.add_parser("export", help="export a Moonshine v2 model to INT8 ONNX (needs the export extra)")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="directory to create")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, metavar="DIR",
                        help="transformers MoonshineStreaming checkpoint directory (config.json + weights)")
    source.add_argument("--random-init", choices=sorted(CONFIGS), metavar="{" + ",".join(sorted(CONFIGS)) + "}",
                        help="random weights in a named shape (a twin for tests and benchmarks)")
    p.add_argument("--seed", type=int, default=0, help="random-init seed (default 0; same seed, same weights)")
    p.add_argument("--no-quantize", action="store_true",
                   help="keep float32 graphs (encoder_model.onnx, ...) instead of the INT8 *_int8.onnx files")
    p.add_argument("--verify", action="store_true",
                   help="check the graphs against PyTorch at several lengths and batch sizes")
    p.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    missing = [m for m in ("torch", "transformers", "onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(f"voiced export needs {', '.join(missing)}: pip install 'voiced[export]'")
    if args.checkpoint is not None and not args.checkpoint.is_dir():
        raise ModelError(f"{args.checkpoint}: not a directory")
    from voiced.export.export import export_model, summary

    out = export_model(
        args.out_dir,
        checkpoint=args.checkpoint,
        random_init=args.random_init,
        seed=args.seed,
        quantize=not args.no_quantize,
        verify=args.verify,
        force=args.force,
    )
    for name, size in summary(out):
        print(f"{size / 2**20:9.2f} MiB  {out / name}")
    return EXIT_OK
