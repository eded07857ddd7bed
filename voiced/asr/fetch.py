"""Download model files from a Hugging Face repository: resumable, with progress and a checksum.

Only `voiced models pull` uses this, at deploy time; the daemon never downloads anything.
A partial download is kept as `<file>.part` and continued with an HTTP Range request. Large
(LFS) files carry their SHA-256 in the `X-Linked-Etag` header, which is checked after the
download; a mismatch deletes the file and fails loudly.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

from voiced.errors import VoicedError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
_BLOCK = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: Optional[int]
    sha256: Optional[str]


def file_url(endpoint: str, repo: str, filename: str, revision: str = "main") -> str:
    return f"{endpoint.rstrip('/')}/{repo}/resolve/{revision}/{filename}"


def probe(url: str, timeout: float = 30.0) -> Optional[RemoteFile]:
    """Size and checksum of a remote file; None when it does not exist (HTTP 404)."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            headers = response.headers
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise VoicedError(f"cannot reach {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise VoicedError(f"cannot reach {url}: {getattr(exc, 'reason', exc)} (is the machine online?)") from None
    etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").strip('"').removeprefix("W/").strip('"')
    sha = etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else None
    size = headers.get("X-Linked-Size") or headers.get("Content-Length")
    return RemoteFile(url, int(size) if size else None, sha)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(remote: RemoteFile, target: Path, progress: Optional[Callable[[int, Optional[int]], None]] = None,
             timeout: float = 60.0) -> Path:
    """Fetch remote into target, resuming `target.part`; verify the checksum when one is known."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()
        have = 0
    request = urllib.request.Request(remote.url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if have and response.status != 206:  # server ignored the range: start over
                have = 0
            with open(part, "ab" if have else "wb") as out:
                done = have
                for block in iter(lambda: response.read(_BLOCK), b""):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, remote.size)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and remote.size == have:  # already complete
            pass
        else:
            raise VoicedError(f"download of {remote.url} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise VoicedError(f"download of {remote.url} interrupted ({getattr(exc, 'reason', exc)}); "
                          "run the command again to resume") from None
    if remote.sha256:
        got = sha256_of(part)
        if got != remote.sha256:
            part.unlink()
            raise VoicedError(f"checksum mismatch for {target.name}: expected {remote.sha256}, got {got}; "
                              "the partial file was deleted, run the command again")
    os.replace(part, target)
    return target


class ProgressBar:
    """A one-line progress display on a terminal (plain log lines otherwise)."""

    def __init__(self, name: str, stream: Optional[TextIO] = None):
        self._name = name
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._last = -1

    def __call__(self, done: int, total: Optional[int]) -> None:
        pct = int(done * 100 / total) if total else -1
        if pct == self._last:
            return
        self._last = pct
        mb = done / 1e6
        if self._tty:
            bar = "#" * (pct // 4) if pct >= 0 else ""
            self._stream.write(f"\r{self._name:<36} {bar:<25} {pct:3d}% {mb:7.1f} MB")
            if total and done >= total:
                self._stream.write("\n")
            self._stream.flush()
        elif pct % 25 == 0:
            self._stream.write(f"{self._name}: {pct}% ({mb:.1f} MB)\n")
