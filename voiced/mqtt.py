"""The broker connection: QoS 1 publishing that loses nothing, and subscriptions that survive reconnects.

Every message stays in our own bounded, ordered outbox until the broker's PUBACK for it
arrives. On every (re)connect paho's own copies are dropped and the whole outbox is sent
again in order, so a broker restart neither loses nor reorders anything; a message whose
PUBACK was lost may arrive twice, which QoS 1 allows. When the outbox is full the oldest
message is dropped and counted in the log.

paho runs its network loop in its own thread (`loop_start`). Our callbacks never raise into
it, and the lock order is always "ours, then paho's": `on_publish` runs while paho holds its
message lock, so it only records the acknowledged id and never takes ours.
"""
from __future__ import annotations

import collections
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Union

from voiced.config import MqttConfig
from voiced.errors import BrokerError, ConfigError, Problem

log = logging.getLogger(__name__)

Payload = Union[str, bytes]
MessageHandler = Callable[[str, bytes], None]

# CONNACK refusals that retrying cannot fix (MQTT 3.1.1 codes 1, 2, 4, 5 and their MQTT 5 names).
_FATAL_REFUSALS = ("unacceptable protocol", "identifier rejected", "client identifier not valid",
                   "bad user name or password", "not authorized")


@dataclass
class _Entry:
    topic: str
    payload: Payload
    retain: bool
    mid: Optional[int] = None  # paho message id while in flight on the current connection


def _logged(func: Callable) -> Callable:
    """Wrap a paho callback: an exception is logged, never raised into the network thread."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the network thread must survive any bug in a handler
            log.exception("error in MQTT callback %s", func.__name__)
            return None

    wrapper.__name__ = func.__name__
    return wrapper


_paho_logger = logging.getLogger("voiced.paho")


def _paho_log(client, userdata, level: int, text: str) -> None:
    """paho's own messages at DEBUG, errors at WARNING. Its "Client is not connected" comes on
    every loop turn while the broker is away; our disconnect and reconnect lines say that once."""
    import paho.mqtt.client as mqtt

    if "Client is not connected" in text:
        return
    _paho_logger.log(logging.WARNING if level == mqtt.MQTT_LOG_ERR else logging.DEBUG, "%s", text)


class MqttLink:
    """One broker connection with a retained `online`/`offline` status topic and an outbox.

    publish() may be called from any thread and never blocks on the network.
    """

    def __init__(self, config: MqttConfig, client_id: str, status_topic: str,
                 password: Optional[str] = None, tls_paths: Optional[Dict[str, Optional[str]]] = None):
        self._config = config
        self._client_id = client_id
        self.status_topic = status_topic
        self._password = password
        self._tls_paths = tls_paths or {}
        self._lock = threading.Lock()
        self._outbox: Deque[_Entry] = collections.deque()
        self._acked: Deque[int] = collections.deque()  # written by on_publish without our lock
        self._subscriptions: Dict[str, MessageHandler] = {}
        self._on_connect_hooks: List[Callable[[], None]] = []
        self._connected = threading.Event()
        self._first_result = threading.Event()
        self._refusal: Optional[str] = None
        self.dropped = 0
        self._client = self._make_client()

    # --- setup -----------------------------------------------------------------------

    def _make_client(self):
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self._client_id, clean_session=True)
        client.suppress_exceptions = True  # second line of defence behind _logged
        client.on_log = _logged(_paho_log)
        client.reconnect_delay_set(min_delay=1, max_delay=self._config.reconnect_max_s)
        # Our outbox bounds memory; paho only ever holds what the outbox holds.
        client.max_queued_messages_set(0)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        if self._config.username is not None:
            client.username_pw_set(self._config.username, self._password)
        ca = self._tls_paths.get("ca_certs")
        if ca:
            try:
                client.tls_set(ca_certs=ca, certfile=self._tls_paths.get("certfile"),
                               keyfile=self._tls_paths.get("keyfile"), cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise BrokerError(f"cannot load TLS files (mqtt.tls): {exc}") from None
            client.tls_insecure_set(self._config.tls.insecure)
        client.on_connect = _logged(self._on_connect)
        client.on_disconnect = _logged(self._on_disconnect)
        client.on_publish = _logged(self._on_publish)
        client.on_message = _logged(self._on_message)
        client.on_connect_fail = _logged(self._on_connect_fail)
        return client

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Call handler(topic, payload) on the network thread for each message; restored on reconnect."""
        with self._lock:
            self._subscriptions[topic] = handler
        if self._connected.is_set():
            self._client.subscribe(topic, qos=1)

    def on_connect(self, hook: Callable[[], None]) -> None:
        """Run hook on the network thread after every (re)connect, e.g. to publish retained state."""
        self._on_connect_hooks.append(hook)

    def start(self, wait_s: float = 5.0) -> None:
        """Connect (in the background if the broker is unreachable). Raises BrokerError on TLS or
        credential problems that retrying will not fix."""
        cfg = self._config
        reachable = True
        try:
            self._client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except ssl.SSLError as exc:
            raise BrokerError(f"TLS handshake with {cfg.host}:{cfg.port} failed: {exc} "
                              "(check mqtt.tls.ca_certs and the broker certificate)") from None
        except OSError as exc:
            reachable = False
            log.warning("broker %s:%s unreachable (%s); queueing until it is back", cfg.host, cfg.port, exc)
        self._client.loop_start()
        if reachable and self._first_result.wait(wait_s) and self._refusal:
            self.close(wait_s=0)
            raise BrokerError(f"broker {cfg.host}:{cfg.port} refused the connection: {self._refusal} "
                              "(check mqtt.username, mqtt.password or mqtt.password_file)")

    # --- publishing ------------------------------------------------------------------

    def publish(self, topic: str, payload: Payload, retain: bool = False) -> None:
        """Queue a QoS 1 message; it is sent now if connected, else after the next connect."""
        with self._lock:
            self._collect_acks()
            if len(self._outbox) >= self._config.queue_size:
                self._outbox.popleft()
                self.dropped += 1
                log.warning("MQTT outbox full (%d); dropped the oldest message (%d dropped so far)",
                            self._config.queue_size, self.dropped)
            entry = _Entry(topic, payload, retain)
            self._outbox.append(entry)
            if self._connected.is_set():
                self._send(entry)

    def publish_now(self, topic: str, payload: Payload, retain: bool = True) -> None:
        """Send state that is only meaningful now (status, discovery): not kept across disconnects."""
        self._client.publish(topic, payload, qos=1, retain=retain)

    def _send(self, entry: _Entry) -> None:
        info = self._client.publish(entry.topic, entry.payload, qos=1, retain=entry.retain)
        entry.mid = info.mid

    def _collect_acks(self) -> None:
        """Remove acknowledged messages from the outbox (caller holds the lock)."""
        if not self._acked:
            return
        acked = set()
        while self._acked:
            acked.add(self._acked.popleft())
        self._outbox = collections.deque(e for e in self._outbox if e.mid not in acked)

    def pending(self) -> int:
        """Messages not yet acknowledged by the broker."""
        with self._lock:
            self._collect_acks()
            return len(self._outbox)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def alive(self) -> bool:
        """True while paho's network thread runs (checked by the daemon's watchdog)."""
        thread = getattr(self._client, "_thread", None)  # set by loop_start, cleared by loop_stop
        return thread is not None and thread.is_alive()

    def close(self, wait_s: float = 2.0) -> None:
        """Deliver what is queued (up to wait_s), publish `offline`, disconnect."""
        if self._connected.is_set() and wait_s > 0:
            if not self.flush(wait_s):
                log.warning("%d MQTT messages not acknowledged at shutdown", self.pending())
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(wait_s, 0.5))
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish offline status: %s", exc)
        self._connected.clear()  # first, so the disconnect below is not reported as an outage
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refusal = str(reason_code)
            level = logging.ERROR if self._refusal.lower() in _FATAL_REFUSALS else logging.WARNING
            log.log(level, "broker refused connection: %s", self._refusal)
            self._first_result.set()
            return
        self._refusal = None
        with self._lock:
            topics = list(self._subscriptions)
            client.drop_out_messages()  # resent below from our outbox, in order
            self._collect_acks()
            client.publish(self.status_topic, "online", qos=1, retain=True)
            for entry in self._outbox:
                self._send(entry)
            backlog = len(self._outbox)
            self._connected.set()
        for topic in topics:
            client.subscribe(topic, qos=1)
        for hook in self._on_connect_hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - one bad hook must not stop the others
                log.exception("error in on-connect hook")
        log.info("connected to broker %s:%s%s", self._config.host, self._config.port,
                 f", resending {backlog} queued messages" if backlog else "")
        self._first_result.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            log.warning("disconnected from broker (%s); queueing until reconnected", reason_code)
        else:
            log.debug("disconnected from broker (%s)", reason_code)

    def _on_connect_fail(self, client, userdata) -> None:
        log.debug("connection attempt to %s:%s failed", self._config.host, self._config.port)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acked.append(mid)  # paho holds its message lock here: never take ours

    def _on_message(self, client, userdata, message) -> None:
        handler = self._subscriptions.get(message.topic)
        if handler is None:
            return
        handler(message.topic, bytes(message.payload))


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


def tls_paths(config: MqttConfig, resolve: Callable[[Optional[str]], object]) -> Dict[str, Optional[str]]:
    tls = config.tls
    return {name: (str(resolve(value)) if value else None)
            for name, value in (("ca_certs", tls.ca_certs), ("certfile", tls.certfile), ("keyfile", tls.keyfile))}
