"""`voiced models pull [NAME]` and `voiced models list`: the model cache.

Models are fetched by this explicit command at deploy time, never when the service starts. A
local directory always works offline: `voiced models pull --from DIR` copies it into the cache,
and `model.path` / `--model DIR` use a directory in place.
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

from voiced.errors import EXIT_FAILURE, EXIT_OK, VoicedError

# name in the cache → (Hugging Face repository, required files, optional files)
KNOWN_MODELS: Dict[str, Tuple[str, List[str], List[str]]] = {
    "moonshine-v2-small": (
        "Mer0vin8ian/moonshine-streaming-small-onnx",
        ["encoder_model_int8.onnx", "decoder_model_int8.onnx", "decoder_with_past_model_int8.onnx",
         "tokenizer.json"],
        ["config.json"],
    ),
}
DEFAULT_NAME = "moonshine-v2-small"


def register(sub) -> None:
    models = sub.add_parser("models", help="download and list speech models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    pull = msub.add_parser("pull", help="fetch a model into the cache (checksummed; a dropped connection is resumed)")
    pull.add_argument("name", nargs="?", default=DEFAULT_NAME,
                      help=f"model name ({', '.join(KNOWN_MODELS)}; default {DEFAULT_NAME})")
    pull.add_argument("--repo", help="Hugging Face repository to fetch from instead of the known one")
    pull.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    pull.add_argument("--from", dest="source", type=Path, help="copy this local directory instead (offline)")
    pull.add_argument("--force", action="store_true", help="fetch again even when already cached")
    pull.set_defaults(func=cmd_pull)
    lst = msub.add_parser("list", help="show the models in the cache")
    lst.set_defaults(func=cmd_list)


def cmd_pull(args: argparse.Namespace) -> int:
    from voiced.paths import models_dir

    target = models_dir() / args.name
    if args.source is not None:
        return _copy_local(args.source, target, args.force)
    if args.name not in KNOWN_MODELS and not args.repo:
        raise VoicedError(f"unknown model {args.name!r}; known: {', '.join(KNOWN_MODELS)} "
                          "(or give --repo OWNER/NAME, or --from DIR)")
    # An unknown name with --repo is assumed to have the default model's file layout.
    repo, required, optional = KNOWN_MODELS.get(args.name, KNOWN_MODELS[DEFAULT_NAME])
    repo = args.repo or repo
    return _download(repo, args.revision, required, optional, target, args.force)


def _copy_local(source: Path, target: Path, force: bool) -> int:
    from voiced.asr.models import load_model_dir

    files = load_model_dir(source, "--from")  # refuse a directory that is not a model
    if target.exists():
        if not force:
            print(f"{target} already exists (use --force to replace it)")
            return EXIT_OK
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    os.replace(tmp, target)
    print(f"copied {files.layout} model {source} to {target}")
    return EXIT_OK


def _download(repo: str, revision: str, required: List[str], optional: List[str], target: Path,
              force: bool) -> int:
    from voiced.asr.fetch import DEFAULT_ENDPOINT, pull_file

    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    target.mkdir(parents=True, exist_ok=True)
    for name in required + optional:
        if (target / name).exists() and not force:
            print(f"{name}: cached")
            continue
        sha = pull_file(repo, name, revision, target, endpoint=endpoint, force=force)
        if sha is None:
            if name in optional:
                continue
            raise VoicedError(f"{repo} has no {name} at revision {revision} ({endpoint}); "
                              "check --repo and --revision")
        print(f"{name}: {'sha256 ok' if sha else 'downloaded (no checksum published)'}")
    print(f"model ready in {target}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from voiced.asr.models import find_dev_model, load_model_dir
    from voiced.errors import ModelError
    from voiced.paths import models_dir

    root = models_dir()
    entries = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    print(f"model cache: {root}")
    if not entries:
        print("  (empty; run `voiced models pull`)")
    status = EXIT_OK
    for path in entries:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        try:
            files = load_model_dir(path, "model cache")
            state = f"{files.layout}, {size:.0f} MB"
        except ModelError as exc:
            state = f"incomplete: {exc}"
            status = EXIT_FAILURE
        print(f"  {path.name:<24} {state}")
    dev = find_dev_model()
    if dev is not None:
        print(f"development model: {dev.directory} ({dev.layout})")
    return status
