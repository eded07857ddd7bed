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
from typing import Mapping, Optional

from voiced.paths import DEFAULT_CONFIG


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
    from voiced.config import Config
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
        return validate(dataclasses.replace(config, audio=audio, model=model, mqtt=mqtt))

    return run_daemon(_config_path(args.config), override)
