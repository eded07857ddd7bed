"""Download model files from a Hugging Face repository, with huggingface_hub.

Only `voiced models pull` uses this, at deploy time; the daemon never downloads anything.
huggingface_hub (a dependency of tokenizers) does the transfer: the HEAD on
`/{repo}/resolve/{revision}/{file}` for the ETag and size, the tqdm progress bar, retries that
continue a dropped connection with an HTTP Range request, the size check and the atomic move
into place. Its bookkeeping lives in `<dir>/.cache/huggingface/`. It checks sizes, not contents,
so the SHA-256 of a large (LFS) file, which the Hub publishes as its ETag, is checked here.

Every huggingface_hub or network error becomes a one-line VoicedError naming the repository and
file and saying what to do.
"""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Optional

from voiced.errors import VoicedError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BLOCK = 1 << 20
_OFFLINE_HINT = ("is the machine online? Set HF_ENDPOINT to use a mirror, or copy a model with "
                 "`voiced models pull NAME --from DIR`")


def pull_file(repo: str, filename: str, revision: str, directory: Path, endpoint: str = DEFAULT_ENDPOINT,
              force: bool = False) -> Optional[str]:
    """Fetch `filename` of `repo` into `directory`.

    Returns the SHA-256 that was verified, "" when the server publishes none (small files kept in
    git), or None when the repository has no such file at that revision.
    """
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    where = f"{repo}/{filename} (revision {revision}) from {endpoint}"
    url = huggingface_hub.hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
    try:
        # One quick HEAD (no retries) before the download: it fails fast when offline and gives
        # the checksum to verify afterwards.
        meta = huggingface_hub.get_hf_file_metadata(url, endpoint=endpoint)
        path = Path(huggingface_hub.hf_hub_download(repo, filename, revision=revision, local_dir=directory,
                                                    endpoint=endpoint, force_download=force))
    except LocalEntryNotFoundError as exc:  # the Hub could not be reached and nothing is on disk
        raise _unreachable(where, exc) from None
    except EntryNotFoundError:
        return None
    except Exception as exc:  # huggingface_hub's HTTP errors, its HTTP client's, disk errors
        raise _translate(exc, repo, revision, endpoint, where) from None
    expected = (meta.etag or "").lower()
    if not _SHA256.fullmatch(expected):
        return ""
    got = _sha256_of(path)
    if got != expected:
        path.unlink()
        raise VoicedError(f"checksum mismatch for {filename} of {repo}: expected {expected}, got {got}; "
                          "the file was deleted, run the command again")
    return got


def _translate(exc: Exception, repo: str, revision: str, endpoint: str, where: str) -> VoicedError:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    log.debug("download of %s failed", where, exc_info=exc)
    if isinstance(exc, RepositoryNotFoundError):
        return VoicedError(f"repository {repo} not found (or private) at {endpoint}; check --repo")
    if isinstance(exc, RevisionNotFoundError):
        return VoicedError(f"{repo} has no revision {revision}; check --revision")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "error"
        return VoicedError(f"download of {where} failed: HTTP {status}; run the command again later")
    if _is_connection_error(exc):
        return _unreachable(where, exc)
    return VoicedError(f"download of {where} failed ({_first_line(exc)}); run the command again "
                       "(finished files are kept)")


def _unreachable(where: str, exc: BaseException) -> VoicedError:
    cause = exc.__cause__ or exc
    return VoicedError(f"cannot download {where}: {_first_line(cause)}; {_OFFLINE_HINT}")


def _is_connection_error(exc: BaseException) -> bool:
    """True for the HTTP client's connect errors and timeouts (httpx, httpx2 or requests, by version)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectError", "ConnectTimeout", "TimeoutException", "ConnectionError", "NetworkError"})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
