"""Debug recordings: each utterance as the recogniser heard it, with what it made of it.

`<dir>/<time>-<seq>_<id>.wav` holds the audio; `<dir>/<time>-<seq>_<id>.json` the transcript,
the match and the timings. Names sort in the order the utterances were saved (millisecond time,
then a counter for utterances within one millisecond), so `ls` lists them as they were heard.
The folder is bounded: beyond `max_recordings` the oldest pairs go first.
This is the tool for "it did not understand me".
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from voiced.audio.wav import write_wav

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, directory: Path, max_recordings: int):
        self.directory = Path(directory)
        self.max_recordings = max_recordings
        self.directory.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def save(self, utterance_id: str, audio: np.ndarray, info: Dict[str, Any]) -> Optional[Path]:
        """Write one recording; never raises (a full disk must not stop the daemon)."""
        now = time.time()
        self._count += 1
        stem = (time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
                + f".{int(now * 1000) % 1000:03d}-{self._count % 10000:04d}_{utterance_id}")
        wav = self.directory / f"{stem}.wav"
        try:
            write_wav(wav, audio)
            (self.directory / f"{stem}.json").write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n",
                                                         encoding="utf-8")
            self._prune()
        except OSError as exc:
            log.warning("could not save debug recording in %s: %s", self.directory, exc)
            return None
        return wav

    def _prune(self) -> None:
        wavs = sorted(self.directory.glob("*.wav"))  # by name = in the order they were saved
        for old in wavs[:max(0, len(wavs) - self.max_recordings)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
