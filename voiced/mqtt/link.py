"""The broker connection: publishing that loses nothing, and subscriptions that survive reconnects.

Every message stays in our own bounded, ordered outbox until the broker's PUBACK for it
arrives. With a journal (voiced.mqtt.journal) the outbox is on disk too, so a restart, a crash or
a power cut while the broker is away loses nothing: the journal's messages go out first
after the next start. On every (re)connect paho's own copies are dropped and the whole
outbox is sent again in order, so a broker restart neither loses nor reorders anything; a
message whose PUBACK was lost may arrive twice, which QoS 1 allows. When the outbox is full
the oldest message is dropped and counted in the log.

Messages go out at QoS 1 unless one asks for another (a grammar action's `qos`). A QoS 0
message waits in the outbox and the journal like any other while the broker is away, but
has no acknowledgement to wait for: paho reports it sent once it is written to the
connection, so it leaves the outbox then and is never sent twice (one written just as the
connection dropped is lost, as QoS 0 allows).

A topic paho or the broker would refuse (voiced.mqtt.topics) is refused by publish() with one log
line and never enters the outbox, where it would fail again at every reconnect.

paho runs its network loop in its own thread (`loop_start`). Our callbacks never raise into
it, and the lock order is always "ours, then paho's" (or ours, then the journal's file):
`on_publish` runs while paho holds its message lock, so it only records the acknowledged id
and wakes the small outbox thread, which removes acknowledged messages and marks them done
in the journal.
"""
from __future__ import annotations

import collections
import logging
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Union

from voiced.config import MqttConfig
from voiced.errors import BrokerError
from voiced.mqtt.journal import Journal
from voiced.mqtt.credentials import FailureExplainer, logged, paho_log, read_password, set_tls, tls_paths
from voiced.mqtt.payloads import clean_text
from voiced.mqtt.topics import topic_problem

if TYPE_CHECKING:
    from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["MqttLink", "read_password", "tls_paths"]

log = logging.getLogger(__name__)

Payload = Union[str, bytes]
Message = Tuple[str, Payload, bool]  # topic, payload, retain: sent at QoS 1
QosMessage = Tuple[str, Payload, bool, int]  # topic, payload, retain, qos (0, 1 or 2)
MessageHandler = Callable[[str, bytes], None]

# CONNACK refusals that retrying cannot fix (MQTT 3.1.1 codes 1, 2, 4, 5 and their MQTT 5 names).
_FATAL_REFUSALS = ("unacceptable protocol", "identifier rejected", "client identifier not valid",
                   "bad user name or password", "not authorized")


@dataclass
class _Entry:
    topic: str
    payload: bytes
    retain: bool
    seq: Optional[int] = None  # the journal's number for it; None when not journaled
    mid: Optional[int] = None  # paho message id while in flight on the current connection
    qos: int = 1


def _entry(topic: str, payload: Payload, retain: bool, qos: int = 1) -> _Entry:
    return _Entry(topic, _as_bytes(payload), bool(retain), qos=qos)


def _as_bytes(payload: Payload) -> bytes:
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    return clean_text(str(payload)).encode("utf-8")


class MqttLink:
    """One broker connection with a retained `online`/`offline` status topic and an outbox.

    publish() may be called from any thread and never blocks on the network (it waits for the
    journal's fsync, a few milliseconds).
    """

    def __init__(self, config: MqttConfig, client_id: str, status_topic: str,
                 password: Optional[str] = None, tls_paths: Optional[Dict[str, Optional[str]]] = None,
                 journal: Optional[Journal] = None):
        self._config = config
        self._client_id = client_id
        self.status_topic = status_topic
        self._password = password
        self._tls_paths = tls_paths or {}
        self._journal = journal
        self._journal_failed = False
        self._lock = threading.Lock()
        self._outbox: Deque[_Entry] = collections.deque()
        self._acked: Deque[int] = collections.deque()  # written by on_publish without our lock
        self._ack_wake = threading.Event()
        self._stopping = threading.Event()
        self._keeper: Optional[threading.Thread] = None
        self._subscriptions: Dict[str, MessageHandler] = {}
        self._on_connect_hooks: List[Callable[[], None]] = []
        self._connected = threading.Event()
        self._first_result = threading.Event()
        self._answered = False  # the broker answered CONNECT on the current attempt
        self._started = threading.Event()  # start() has returned: refusals are no longer its to report
        self._refusal: Optional[str] = None
        self._explainer = FailureExplainer(config.host, config.port, bool(self._tls_paths.get("ca_certs")))
        self.dropped = 0
        self._client = self._make_client()
        if journal is not None:
            self._outbox.extend(_Entry(r.topic, r.payload, r.retain, r.seq, qos=r.qos) for r in journal.pending())
            if self._outbox:
                log.info("%d unsent messages from the journal %s go out when the broker is reachable",
                         len(self._outbox), journal.path)

    # --- setup -----------------------------------------------------------------------

    def _make_client(self) -> Client:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, clean_session=True)
        client.suppress_exceptions = True  # second line of defence behind logged
        client.on_log = logged(paho_log)
        client.reconnect_delay_set(min_delay=1, max_delay=self._config.reconnect_max_s)
        # Our outbox bounds memory; paho only ever holds what the outbox holds.
        client.max_queued_messages_set(0)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        if self._config.username is not None:
            client.username_pw_set(self._config.username, self._password)
        set_tls(client, self._tls_paths, self._config.tls.insecure)
        client.on_connect = logged(self._on_connect)
        client.on_disconnect = logged(self._on_disconnect)
        client.on_publish = logged(self._on_publish)
        client.on_message = logged(self._on_message)
        client.on_connect_fail = logged(self._on_connect_fail)
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
        self._keeper = threading.Thread(target=self._keep_outbox, name="mqtt-outbox", daemon=True)
        self._keeper.start()
        reachable = True
        try:
            self._client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except ssl.SSLError as exc:
            self.close(wait_s=0)
            raise BrokerError(f"TLS handshake with {cfg.host}:{cfg.port} failed: {exc} (check mqtt.tls.ca_certs "
                              "and the broker certificate, and that the port speaks TLS)") from None
        except OSError as exc:
            reachable = False
            self._explainer.connect_failed(exc)
            log.warning("broker %s:%s unreachable (%s); queueing until it is back", cfg.host, cfg.port, exc)
        self._client.loop_start()
        refused = reachable and self._first_result.wait(wait_s) and self._refusal
        self._started.set()
        if refused:
            self.close(wait_s=0)
            raise BrokerError(f"broker {cfg.host}:{cfg.port} refused the connection: {self._refusal} "
                              "(check mqtt.username, mqtt.password or mqtt.password_file)")

    # --- publishing ------------------------------------------------------------------

    def publish(self, topic: str, payload: Payload, retain: bool = False) -> bool:
        """Queue a QoS 1 message; it is sent now if connected, else after the next connect.
        False (logged) when the topic cannot be published to."""
        return self.publish_many([(topic, payload, retain)]) == 1

    def publish_many(self, messages: Sequence[Union[Message, QosMessage]]) -> int:
        """Queue messages in order with one journal write; returns how many were accepted.
        A message is sent at QoS 1 unless it gives its own (topic, payload, retain, qos)."""
        entries = [_entry(*message) for message in messages if self._topic_ok(message[0])]
        if not entries:
            return 0
        with self._lock:
            self._collect_acks()
            self._journal_append(entries)
            self._outbox.extend(entries)
            dropped = []
            while len(self._outbox) > self._config.queue_size:
                dropped.append(self._outbox.popleft())
            if dropped:
                self.dropped += len(dropped)
                self._journal_done(dropped)
                log.warning("MQTT outbox full (%d); dropped the oldest message (%d dropped so far)",
                            self._config.queue_size, self.dropped)
            if self._connected.is_set():
                for entry in entries[len(entries) - min(len(entries), len(self._outbox)):]:
                    self._send(entry)
        return len(entries)

    def publish_now(self, topic: str, payload: Payload, retain: bool = True) -> None:
        """Send state that is only meaningful now (status, discovery): not kept across disconnects."""
        if not self._topic_ok(topic):
            return
        try:
            self._client.publish(topic, _as_bytes(payload), qos=1, retain=retain)
        except (ValueError, TypeError) as exc:
            log.error("could not publish to %r: %s", topic, exc)

    @staticmethod
    def _topic_ok(topic: str) -> bool:
        problem = topic_problem(topic)
        if problem:
            log.error("refusing to publish to topic %r: %s", topic, problem)
        return problem is None

    def _send(self, entry: _Entry) -> None:
        """Hand one outbox entry to paho (caller holds the lock); one that paho refuses is dropped."""
        try:
            entry.mid = self._client.publish(entry.topic, entry.payload, qos=entry.qos, retain=entry.retain).mid
        except (ValueError, TypeError) as exc:
            log.error("dropped a message paho refuses (topic %r): %s", entry.topic, exc)
            self._outbox.remove(entry)
            self._journal_done([entry])

    def _collect_acks(self) -> None:
        """Remove acknowledged messages from the outbox and the journal (caller holds the lock)."""
        if not self._acked:
            return
        acked = set()
        while self._acked:
            acked.add(self._acked.popleft())
        done = [e for e in self._outbox if e.mid in acked]
        if done:
            self._outbox = collections.deque(e for e in self._outbox if e.mid not in acked)
            self._journal_done(done)

    def _keep_outbox(self) -> None:
        """The outbox thread: acknowledged messages leave the journal soon, not at the next publish."""
        while not self._stopping.is_set():
            if not self._ack_wake.wait(0.5):
                continue
            self._ack_wake.clear()
            try:
                with self._lock:
                    self._collect_acks()
            except Exception:  # noqa: BLE001 - keep collecting; publish() collects too
                log.exception("error while collecting MQTT acknowledgements")

    # --- journal (caller holds the lock) ----------------------------------------------

    def _journal_append(self, entries: List[_Entry]) -> None:
        journal = self._journal
        if journal is None:
            return
        try:
            seqs = journal.append([(e.topic, e.payload, e.retain, e.qos) for e in entries])
        except OSError as exc:
            self._journal_trouble(journal, exc)
            return
        for entry, seq in zip(entries, seqs):
            entry.seq = seq
        if self._journal_failed:
            self._journal_failed = False
            log.warning("the outbox journal %s can be written again", journal.path)

    def _journal_done(self, entries: List[_Entry]) -> None:
        seqs = [e.seq for e in entries if e.seq is not None]
        journal = self._journal
        if journal is None or not seqs:
            return
        try:
            journal.done(seqs)
        except OSError as exc:
            self._journal_trouble(journal, exc)

    def _journal_trouble(self, journal: Journal, exc: OSError) -> None:
        if not self._journal_failed:
            self._journal_failed = True
            log.error("cannot write the outbox journal %s (%s); unsent messages are kept in memory only "
                      "until it can be written again", journal.path, exc.strerror or exc)

    # --- state and shutdown ----------------------------------------------------------

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
        """Deliver what is queued (waiting up to wait_s, also for a broker that is away), publish
        `offline`, disconnect. What stays unacknowledged stays in the journal for the next start."""
        if self._stopping.is_set():  # closed already (start() failed, then the daemon cleans up)
            return
        if wait_s > 0:
            self.flush(wait_s)
        left = self.pending()
        if left and self._journal is not None:
            log.warning("%d MQTT messages not acknowledged at shutdown stay in the journal %s; "
                        "they are sent after the next start", left, self._journal.path)
        elif left:
            log.warning("%d MQTT messages not acknowledged at shutdown are lost (mqtt.journal is off)", left)
        if self._connected.is_set():
            try:
                self._client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(
                    timeout=max(wait_s, 0.5))
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish offline status: %s", exc)
        self._connected.clear()  # first, so the disconnect below is not reported as an outage
        self._client.disconnect()
        self._client.loop_stop()
        self._stopping.set()
        if self._keeper is not None:
            self._keeper.join(2.0)
        if self._journal is not None:
            with self._lock:
                self._journal.close()

    # --- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, client: Client, userdata: object, flags: ConnectFlags, reason_code: ReasonCode,
                    properties: Optional[Properties]) -> None:
        self._answered = True
        if reason_code.is_failure:
            self._refusal = str(reason_code)
            if self._started.is_set():  # before that, start() raises BrokerError with the reason
                self._explainer.refused(self._refusal, self._refusal.lower() in _FATAL_REFUSALS)
            self._first_result.set()
            return
        self._refusal = None
        self._explainer.connected()
        with self._lock:
            try:
                topics = list(self._subscriptions)
                client.drop_out_messages()  # resent below from our outbox, in order
                self._collect_acks()
                client.publish(self.status_topic, "online", qos=1, retain=True)
                for entry in list(self._outbox):  # _send drops what paho refuses; the rest still go
                    self._send(entry)
                backlog = len(self._outbox)
            finally:
                self._connected.set()  # under the lock, so no publish() falls between resend and this
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

    def _on_disconnect(self, client: Client, userdata: object, flags: DisconnectFlags, reason_code: ReasonCode,
                       properties: Optional[Properties]) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            log.warning("disconnected from broker (%s); queueing until reconnected", reason_code)
        else:
            log.debug("disconnected from broker (%s)", reason_code)
            if not self._answered:
                self._explainer.closed_early()
                self._first_result.set()  # start() need not wait: retrying goes on in the background
        self._answered = False

    def _on_connect_fail(self, client: Client, userdata: object) -> None:
        # paho calls this inside its `except OSError`, so the reason is the exception being handled.
        self._explainer.connect_failed(sys.exc_info()[1])

    def _on_publish(self, client: Client, userdata: object, mid: int, reason_code: ReasonCode,
                    properties: Properties) -> None:
        self._acked.append(mid)  # paho holds its message lock here: never take ours
        self._ack_wake.set()

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        handler = self._subscriptions.get(message.topic)
        if handler is None:
            return
        handler(message.topic, bytes(message.payload))
