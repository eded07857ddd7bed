"""The paho client's surroundings: credentials and TLS files checked at start, callbacks and
paho's log kept from disturbing its network thread, and a plain explanation when connecting
keeps failing.

Errors a restart cannot fix (a missing CA file, an unreadable password file) are ConfigErrors
naming the file and the setting, so the daemon exits 78 with one line. Failures that can
pass (the broker is down, being reconfigured) are retried forever, but after a few attempts
that look like a wrong setting the log says once what to change: a plain client on a TLS
port (or the reverse) only shows as a connection closed before the broker answers.
"""
from __future__ import annotations

import logging
import os
import ssl
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from voiced.config import MqttConfig
from voiced.errors import BrokerError, ConfigError, Problem

if TYPE_CHECKING:
    from paho.mqtt.client import Client

log = logging.getLogger("voiced.mqtt.link")

TLS_KEYS = ("ca_certs", "certfile", "keyfile")
EXPLAIN_AFTER = 3  # failed attempts of one kind before the likely cause is logged


def read_password(config: MqttConfig, resolve: Callable[[Optional[str]], object]) -> Optional[str]:
    """The broker password: mqtt.password, or the first line of mqtt.password_file."""
    if config.password_file:
        path = resolve(config.password_file)
        try:
            with open(str(path), encoding="utf-8") as fh:
                return fh.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError([Problem(f"cannot read mqtt.password_file {path}: {exc.strerror}",
                                       key="mqtt.password_file", hint="create the file or fix the path")]) from None
    return config.password


def tls_paths(config: MqttConfig, resolve: Callable[[Optional[str]], object],
              source: Optional[str] = None) -> Dict[str, Optional[str]]:
    """mqtt.tls's files as paths; ConfigError naming every file that cannot be read."""
    paths: Dict[str, Optional[str]] = {}
    problems: List[Problem] = []
    for name in TLS_KEYS:
        value = getattr(config.tls, name)
        path = paths[name] = str(resolve(value)) if value else None
        problem = _file_problem(path) if path else None
        if problem:
            problems.append(Problem(f"cannot read mqtt.tls.{name} {paths[name]}: {problem}", file=source,
                                    key=f"mqtt.tls.{name}", hint="fix the path (relative paths start at the "
                                    "config file's folder) or make the file readable by the voiced user"))
    if problems:
        raise ConfigError(problems)
    return paths


def _file_problem(path: str) -> Optional[str]:
    if not os.path.exists(path):
        return "no such file"
    if not os.path.isfile(path):
        return "not a file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def set_tls(client: Client, paths: Dict[str, Optional[str]], insecure: bool) -> None:
    """Turn on TLS when a CA file is given; BrokerError naming the file paho could not load."""
    ca = paths.get("ca_certs")
    if not ca:
        return
    try:
        client.tls_set(ca_certs=ca, certfile=paths.get("certfile"), keyfile=paths.get("keyfile"),
                       cert_reqs=ssl.CERT_REQUIRED)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise BrokerError(f"cannot load TLS files: {_bad_tls_file(paths) or 'mqtt.tls'}: {exc}") from None
    client.tls_insecure_set(insecure)


def _bad_tls_file(paths: Dict[str, Optional[str]]) -> Optional[str]:
    """Which setting names the file that does not load, found by loading them one by one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(paths["ca_certs"])
    except (OSError, ssl.SSLError, ValueError):
        return f"mqtt.tls.ca_certs {paths['ca_certs']}"
    certfile = paths.get("certfile")
    if certfile:
        try:
            context.load_cert_chain(certfile, paths.get("keyfile"))
        except (OSError, ssl.SSLError, ValueError):
            return f"mqtt.tls.certfile {paths['certfile']} / mqtt.tls.keyfile {paths.get('keyfile')}"
    return None


def logged(func: Callable) -> Callable:
    """Wrap a paho callback: an exception is logged, never raised into the network thread."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the network thread must survive any bug in a handler
            log.exception("error in MQTT callback %s", func.__name__)
            return None

    wrapper.__name__ = func.__name__
    return wrapper


_paho_logger = logging.getLogger("voiced.paho")
# Said by paho on every attempt while the broker is away or drops us; our own disconnect,
# reconnect and FailureExplainer lines say it once, with the cause.
_REPEATED = ("Client is not connected", "failed to receive on socket", "failed to send on socket")


def paho_log(client: Client, userdata: object, level: int, text: str) -> None:
    """paho's own messages at DEBUG, its other errors at WARNING."""
    import paho.mqtt.client as mqtt

    repeated = any(part in text for part in _REPEATED)
    _paho_logger.log(logging.WARNING if level == mqtt.MQTT_LOG_ERR and not repeated else logging.DEBUG, "%s", text)


class FailureExplainer:
    """Counts failed connection attempts by kind and logs the likely cause once per kind,
    until a connection succeeds. Called on paho's network thread; never raises."""

    def __init__(self, host: str, port: int, tls: bool):
        self._where = f"{host}:{port}"
        self._tls = tls
        self._counts: Dict[str, int] = {}

    def connected(self) -> None:
        self._counts.clear()

    def connect_failed(self, exc: Optional[BaseException]) -> None:
        """A connection attempt raised `exc` (refused, reset, TLS handshake)."""
        if isinstance(exc, ssl.SSLError):
            self._count("tls", logging.WARNING, f"TLS handshake with {self._where} keeps failing ({exc}): "
                        "the port may not speak TLS (use the broker's TLS listener, often 8883, or remove "
                        "mqtt.tls.ca_certs), or its certificate is not signed by mqtt.tls.ca_certs")
        elif isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            self.closed_early()
        else:
            log.debug("connection attempt to %s failed: %s", self._where, exc)

    def closed_early(self) -> None:
        """The broker accepted the TCP connection but closed it before answering CONNECT."""
        if self._tls:
            hint = ("the port may not speak TLS: use the broker's TLS listener (often 8883) "
                    "or remove mqtt.tls.ca_certs for a plain port")
        else:
            hint = ("the port may expect TLS: set mqtt.tls.ca_certs, or use the broker's plain "
                    "listener (often 1883)")
        self._count("early", logging.WARNING, f"broker {self._where} keeps closing the connection before "
                    f"answering; {hint}")

    def refused(self, reason: str, fatal: bool) -> None:
        """The broker answered CONNECT with a refusal (e.g. bad user name or password)."""
        if fatal:
            self._count("refused", logging.ERROR, f"broker {self._where} refused the connection: {reason} "
                        "(check mqtt.username, mqtt.password or mqtt.password_file); still retrying, "
                        "in case the broker is being reconfigured", after=1)
        else:
            log.warning("broker %s refused the connection: %s", self._where, reason)

    def _count(self, kind: str, level: int, message: str, after: int = EXPLAIN_AFTER) -> None:
        self._counts[kind] = count = self._counts.get(kind, 0) + 1
        if count == after:
            log.log(level, "%s", message)
        else:
            log.debug("connection attempt %d to %s failed (%s)", count, self._where, kind)
