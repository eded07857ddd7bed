"""sd_notify: tell systemd we are ready, what we are doing, and that we are alive.

The protocol is one datagram of `KEY=value` lines to the unix socket named by
$NOTIFY_SOCKET (a leading `@` means the Linux abstract namespace). Without the
variable (not started by systemd) every call is a no-op, so the daemon runs the
same in a terminal.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Mapping, Optional

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; never raises, because a lost status line must not stop the daemon."""

    def __init__(self, env: Optional[Mapping[str, str]] = None):
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self._address: Optional[str] = ("\0" + path[1:]) if path.startswith("@") else (path or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send `lines` (e.g. "READY=1", "STATUS=listening") as one datagram. True when sent."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                # Never block the caller (the processing loop) on a listener that stopped reading.
                sock.send("\n".join(lines).encode("utf-8"), socket.MSG_DONTWAIT)
            return True
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self._address.lstrip("\0"), exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))


def watchdog_interval_s(env: Optional[Mapping[str, str]] = None) -> Optional[float]:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC), or None when no watchdog is set."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec / 2e6 if usec > 0 else None
