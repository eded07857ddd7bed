"""`voiced run`: the service itself (what systemd starts).

The environment is read here and nowhere else: the config file's path and the state
directory for the MQTT journal are resolved once and passed down in the config.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

from voiced.errors import ConfigError, Problem
from voiced.paths import DEFAULT_CONFIG

if TYPE_CHECKING:
    from voiced.config import Config


def register(sub) -> None:
    run = sub.add_parser("run", help="run the daemon: listen, recognise, publish to MQTT")
    run.add_argument("--config", type=Path,
                     help=f"config file (default: $VOICED_CONFIG, else {DEFAULT_CONFIG} when it exists)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--file", type=Path, metavar="WAV", help="play this WAV file instead of the microphone")
    source.add_argument("--stdin", action="store_true", help="read raw PCM from stdin (see audio.stdin_format)")
    source.add_argument("--mic", action="store_true", help="listen to the microphone (overrides the config)")
    run.add_argument("--fast", action="store_true", help="with --file: play as fast as possible, not in real time")
    run.add_argument("--model", type=Path, metavar="DIR", help="speech model directory (overrides model.path)")
    run.set_defaults(func=cmd_run)


def _config_path(given: Optional[Path]) -> Optional[Path]:
    from voiced.paths import default_config

    return given if given is not None else default_config()


def state_dir(env: Mapping[str, str]) -> Path:
    """Where the MQTT journal lives when mqtt.state_dir is empty: $STATE_DIRECTORY (systemd's
    StateDirectory=, the first if several), else $XDG_STATE_HOME/voiced, else ~/.local/state/voiced."""
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "voiced"


def cmd_run(args: argparse.Namespace) -> int:
    from voiced.config_rules import validate
    from voiced.daemon import run_daemon

    default_state = str(state_dir(os.environ))

    def override(config: Config) -> Config:
        audio = config.audio
        if args.file is not None:
            audio = dataclasses.replace(audio, source="file", file=str(args.file.resolve()))
        elif args.stdin:
            audio = dataclasses.replace(audio, source="stdin")
        elif args.mic:
            audio = dataclasses.replace(audio, source="mic")
        if args.fast:
            audio = dataclasses.replace(audio, realtime=False)
        model = config.model
        if args.model is not None:
            model = dataclasses.replace(model, path=str(args.model.resolve()))
        if not args.verbose:  # -v on the command line wins over logging.level
            logging.getLogger().setLevel(config.logging.level)
        mqtt = config.mqtt
        if mqtt.state_dir is None:
            mqtt = dataclasses.replace(mqtt, state_dir=default_state)
        # the rules hold for what runs, options included, and fail before any model loads
        final = validate(dataclasses.replace(config, audio=audio, model=model, mqtt=mqtt))
        _check_audio_file(final, from_option=args.file is not None)
        return final

    return run_daemon(_config_path(args.config), override)


def _check_audio_file(config: Config, from_option: bool) -> None:
    """A file source's WAV must be readable: found now, not once the models have loaded."""
    path = config.resolve(config.audio.file) if config.audio.source == "file" else None
    if path is None or (path.is_file() and os.access(path, os.R_OK)):
        return
    why = "no such file" if not path.exists() else "not a file" if not path.is_file() else "permission denied"
    if from_option:
        raise ConfigError([Problem(f"cannot read {path}: {why}", key="--file", hint="pass an existing WAV file")])
    raise ConfigError([Problem(f"cannot read audio.file {path}: {why}", file=config.source_path,
                               line=config.key_lines.get("audio.file"), key="audio.file",
                               hint="fix the path (relative paths start at the config file's folder)")])
