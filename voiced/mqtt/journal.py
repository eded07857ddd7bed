"""The MQTT outbox on disk, so messages the broker has not acknowledged survive a restart,
a crash (SIGKILL) or a power cut while the broker is away.

One JSON Lines file per site in the state directory. A header line, then one line per event:

    {"voiced_outbox": 1}
    {"seq": 7, "topic": "voiced/kitchen/intent/LightOn", "payload": "{...}", "retain": false}
    {"seq": 8, "topic": "...", "payload_b64": "gAE=", "retain": false}    (payload not UTF-8)
    {"seq": 9, "topic": "...", "payload": "...", "retain": false, "qos": 0}  (QoS other than 1)
    {"done": [7, 8]}                                                   (acknowledged or dropped)

A message line is written and fsync'd before the message is sent, so once publish() returns it
survives a power cut. `done` lines are only flushed to the kernel: losing one to a power cut
means a message is sent twice, which QoS 1 allows anyway. The file is compacted when it holds
nothing live (truncated to the header) or mostly finished messages (rewritten to a temporary
file that replaces it atomically), so it stays about as small as the outbox.

At open the file is read back in order. A damaged line (a torn last write, garbage) is skipped
with one warning naming the file; everything readable is kept. The newest `limit` messages
survive (mqtt.queue_size). A lock file keeps a second voiced from using the same journal.
"""
from __future__ import annotations

import base64
import errno
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from voiced.errors import VoicedError

log = logging.getLogger(__name__)

HEADER = b'{"voiced_outbox": 1}\n'
COMPACT_LINES = 256  # finished lines tolerated before a rewrite (and at least as many as live ones)


class JournalError(VoicedError):
    """The journal file cannot be opened (permissions, a missing folder, another voiced using it)."""


@dataclass(frozen=True)
class Record:
    """One message not yet acknowledged by the broker."""

    seq: int
    topic: str
    payload: bytes
    retain: bool
    qos: int = 1


class Journal:
    """Append messages, mark them done, get the unfinished ones back after a restart.

    Not thread-safe: the caller (MqttLink) serialises calls with its own lock.
    """

    def __init__(self, path: Path, limit: int):
        self.path = Path(path)
        self._live: Dict[int, Record] = {}
        self._lines = 0  # lines after the header in the current file
        self._fd: Optional[int] = None
        self._lock_fd: Optional[int] = None
        self._torn = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            records = self._recover(limit)
            self._live = {r.seq: r for r in records}
            self._next = max(self._live, default=0) + 1
            self._rewrite()
        except OSError as exc:
            self.close()
            raise JournalError(f"cannot use the outbox journal {self.path}: {exc.strerror or exc}") from None

    # --- public -----------------------------------------------------------------------

    def pending(self) -> List[Record]:
        """Messages not done yet, oldest first."""
        return list(self._live.values())

    def __len__(self) -> int:
        return len(self._live)

    def append(self, messages: Sequence[Union[Tuple[str, bytes, bool], Tuple[str, bytes, bool, int]]]) -> List[int]:
        """Write messages (topic, payload, retain[, qos: 1 if not given]) and fsync once; returns their
        sequence numbers. Raises OSError (disk full, I/O error): the caller still holds them in memory."""
        records = [Record(self._next + i, *message) for i, message in enumerate(messages)]
        if not records:
            return []
        self._next += len(records)  # never reused, even when the write below fails half-way
        self._write(b"".join(_encode(r) for r in records), sync=True)
        for r in records:
            self._live[r.seq] = r
        return [r.seq for r in records]

    def done(self, seqs: Iterable[int]) -> None:
        """Mark messages acknowledged (or dropped); compacts when worthwhile. Raises OSError."""
        finished = [s for s in seqs if self._live.pop(s, None) is not None]
        if not finished:
            return
        if not self._live:
            os.ftruncate(self._open_fd(), 0)
            self._torn = False
            self._write(HEADER, sync=False, count=False)
            self._lines = 0
            return
        self._write(json.dumps({"done": finished}).encode() + b"\n", sync=False)
        if self._lines - len(self._live) >= max(COMPACT_LINES, len(self._live)):
            self._rewrite()

    def close(self) -> None:
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)  # closing the lock file releases the lock
                setattr(self, name, None)

    # --- file handling ----------------------------------------------------------------

    def _lock(self) -> None:
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise JournalError(f"the outbox journal {self.path} is in use by another voiced process "
                               "(one journal per site: give each instance its own site_id or mqtt.state_dir)") from None

    def _open_fd(self) -> int:
        if self._fd is None:
            raise OSError(errno.EBADF, "the journal is closed")
        return self._fd

    def _write(self, data: bytes, sync: bool, count: bool = True) -> None:
        fd = self._open_fd()
        if self._torn:  # end the fragment a failed write may have left, so it stays one damaged line
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        except OSError:
            self._torn = True
            raise
        self._torn = False
        if count:
            self._lines += data.count(b"\n")

    def _rewrite(self) -> None:
        """Replace the file with the header and the live messages (temporary file, fsync, rename)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = HEADER + b"".join(_encode(r) for r in self._live.values())
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND)
        self._lines = len(self._live)

    def _recover(self, limit: int) -> List[Record]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        live: Dict[int, Record] = {}
        damaged: List[int] = []
        lines = data.split(b"\n")
        torn = lines.pop()  # after the last newline: empty, or a write cut short
        if torn:
            lines.append(torn)
        for number, line in enumerate(lines, 1):
            ok = _apply(line, live, first=number == 1, complete=number <= len(lines) - bool(torn))
            if not ok:
                damaged.append(number)
        records = sorted(live.values(), key=lambda r: r.seq)
        if damaged:
            log.warning("outbox journal %s: skipped %d damaged line(s) (first at line %d); recovered %d messages",
                        self.path, len(damaged), damaged[0], len(records))
        if len(records) > limit:
            log.warning("outbox journal %s holds %d messages, more than mqtt.queue_size %d; dropped the oldest %d",
                        self.path, len(records), limit, len(records) - limit)
            records = records[-limit:]
        return records


def _apply(line: bytes, live: Dict[int, Record], first: bool, complete: bool) -> bool:
    """Apply one journal line to `live`; False when the line is damaged."""
    if not complete:
        return False
    if first and line + b"\n" == HEADER:
        return True
    try:
        obj = json.loads(line)
        if "seq" in obj:
            record = _decode(obj)
            live.setdefault(record.seq, record)
            return True
        done = obj["done"]
        if not isinstance(done, list):
            return False
        for seq in done:
            live.pop(seq, None)
        return True
    except (ValueError, TypeError, KeyError, AttributeError):  # binascii.Error is a ValueError
        return False


def _encode(record: Record) -> bytes:
    obj: Dict[str, object] = {"seq": record.seq, "topic": record.topic}
    try:
        obj["payload"] = record.payload.decode("utf-8")
    except UnicodeDecodeError:
        obj["payload_b64"] = base64.b64encode(record.payload).decode("ascii")
    obj["retain"] = record.retain
    if record.qos != 1:  # journals written before QoS was kept have none: 1
        obj["qos"] = record.qos
    return json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n"


def _decode(obj: dict) -> Record:
    seq, topic, retain, qos = obj["seq"], obj["topic"], obj["retain"], obj.get("qos", 1)
    if not (isinstance(seq, int) and isinstance(topic, str) and isinstance(retain, bool) and qos in (0, 1, 2)):
        raise TypeError("bad record")
    if "payload" in obj:
        payload = obj["payload"].encode("utf-8")
    else:
        payload = base64.b64decode(obj["payload_b64"], validate=True)
    return Record(seq, topic, payload, retain, qos)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder that holds the file."""
    fd = os.open(str(folder), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
