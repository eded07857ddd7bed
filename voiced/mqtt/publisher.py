"""The last pipeline stage: turn a match into MQTT messages, and take `listen` commands back.

It decides what goes where (intent, not_recognized, transcript, Hermes, Home Assistant,
per-intent actions); MqttLink (voiced.mqtt.link) makes sure it arrives. The actions are those of the
grammar that produced the result, handed over with it (voiced.stages.Sink), so a reload never
pairs a result with another grammar's actions. An action that cannot be
rendered (a value that cannot be part of a topic) is refused with one log line; the intent's
own messages still go out. Home Assistant discovery (voiced.mqtt.discovery) is re-announced
at most once a second, however often Home Assistant says `online`.

Feedback for lights and sounds (`speech` when an utterance starts and ends, `result` as soon
as it is known) is sent at once on the current connection and never queued: a beep an hour
late after a broker outage helps no one.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Sequence, TextIO, Tuple, Union

from voiced.mqtt import discovery, hermes, payloads
from voiced.config import Config, MqttConfig
from voiced.errors import ConfigError, Problem
from voiced.mqtt.journal import Journal, JournalError
from voiced.mqtt.link import Message, MessageHandler, MqttLink, Payload, QosMessage, read_password, tls_paths
from voiced.mqtt.payloads import Topics, Utterance, dumps

if TYPE_CHECKING:
    from voiced.grammar.matcher import MatchResult
    from voiced.grammar.model import Grammar
    from voiced.stages import TextMatcher

log = logging.getLogger(__name__)

DISCOVERY_INTERVAL_S = 1.0  # Home Assistant restarting, or a flood of `online`, gets one announcement a second


class Link(Protocol):
    """A connection that delivers messages: MqttLink, or StdoutLink when MQTT is off."""

    @property
    def connected(self) -> bool:
        """Connected now (messages go out at once rather than after the next connect)."""

    def publish_many(self, messages: Sequence[Union[Message, QosMessage]]) -> int:
        """Queue messages (QoS 1 unless given, kept until sent); returns how many were accepted."""

    def publish_now(self, topic: str, payload: Payload, retain: bool = True) -> None:
        """Retained state for the current connection only (not journalled)."""

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Call handler(topic, payload) on the network thread for each message on `topic`."""

    def on_connect(self, hook: Callable[[], None]) -> None:
        """Call hook() on the network thread after every (re)connect."""

    def start(self, wait_s: float = 5.0) -> None:
        """Connect (waiting up to wait_s) and start the network thread."""

    def alive(self) -> bool:
        """The network thread is running."""

    def close(self, wait_s: float = 2.0) -> None:
        """Publish offline, wait up to wait_s for what is unacknowledged, disconnect."""


class StdoutLink:
    """Stands in for the broker when mqtt.enabled is false: one `topic payload` line per message."""

    status_topic = ""
    connected = True

    def __init__(self, stream: Optional[TextIO] = None):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: Payload, retain: bool = False) -> bool:
        return self.publish_many([(topic, payload, retain)]) == 1

    def publish_many(self, messages: Sequence[Union[Message, QosMessage]]) -> int:
        with self._lock:
            for topic, payload, *_ in messages:
                text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
                print(f"{topic} {text}", file=self._stream, flush=True)
        return len(messages)

    def publish_now(self, topic: str, payload: Payload, retain: bool = True) -> None:
        pass  # retained state has no meaning without a broker

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        pass

    def on_connect(self, hook: Callable[[], None]) -> None:
        pass

    def start(self, wait_s: float = 5.0) -> None:
        pass

    def alive(self) -> bool:
        return True

    def pending(self) -> int:
        return 0

    def close(self, wait_s: float = 2.0) -> None:
        pass


def open_link(config: Config) -> Union[MqttLink, StdoutLink]:
    """The broker connection described by config.mqtt (not started yet). ConfigError names the
    setting when a password or TLS file cannot be read or the journal cannot be opened."""
    mqtt = config.mqtt
    if not mqtt.enabled:
        return StdoutLink()
    topics = topics_for(config)
    password = read_password(mqtt, config.resolve)
    paths = tls_paths(mqtt, config.resolve, config.source_path)
    journal = open_journal(config)
    try:
        return MqttLink(mqtt, client_id=mqtt.client_id or f"voiced-{config.site_id}", status_topic=topics.status,
                        password=password, tls_paths=paths, journal=journal)
    except BaseException:
        if journal is not None:
            journal.close()
        raise


def journal_path(config: Config) -> Optional[Path]:
    """Where this site's outbox journal lives; None when it is off or no state directory is known."""
    folder = config.resolve(config.mqtt.state_dir) if config.mqtt.state_dir else None
    if not config.mqtt.journal or folder is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in config.site_id)
    return folder / f"outbox-{safe}.jsonl"


def open_journal(config: Config) -> Optional[Journal]:
    path = journal_path(config)
    if path is None:
        if config.mqtt.journal:
            log.info("no state directory (mqtt.state_dir): unsent MQTT messages are kept in memory only")
        return None
    try:
        return Journal(path, config.mqtt.queue_size)
    except JournalError as exc:
        raise ConfigError([Problem(str(exc), file=config.source_path, key="mqtt.state_dir",
                                   hint="make the folder writable by the voiced user, set mqtt.state_dir, "
                                        "or turn the journal off with mqtt.journal: false")]) from None


def topics_for(config: Config) -> Topics:
    return Topics(config.mqtt.topic_prefix, config.site_id, config.mqtt.discovery_prefix)


class Publisher:
    """Publishes results for one site (a voiced.stages.Sink); calls on_listen(bool) when
    listening is switched (`listen/set`, Hermes toggles). `matcher()` is the matcher in use
    now, for Hermes text queries."""

    def __init__(self, link: Link, topics: Topics, config: MqttConfig, site_id: str,
                 on_listen: Optional[Callable[[bool], None]] = None,
                 matcher: Callable[[], Optional[TextMatcher]] = lambda: None):
        self._link = link
        self._topics = topics
        self._config = config
        self._site = site_id
        self._on_listen = on_listen
        self._mutes = hermes.Mutes()  # why it is not listening; listen/set and Hermes toggles
        self._speaking = False
        self._model: Optional[str] = None
        self._last: Tuple[Optional[Utterance], Optional[MatchResult]] = (None, None)  # for the HA sensors
        self._announced: Optional[Grammar] = None  # whose intents Home Assistant is told about
        self._discovery = Coalescer(self._publish_discovery, DISCOVERY_INTERVAL_S)
        link.on_connect(self._publish_state)
        link.subscribe(topics.listen_set, self._handle_listen_set)
        if config.ha_discovery:
            link.subscribe(topics.ha_status, self._handle_ha_status)
        if config.hermes:
            hermes.HermesInbox(site_id, self.switch, matcher, link.publish_many).subscribe(link.subscribe)

    def announce(self, grammar: Grammar) -> None:
        """Tell Home Assistant this grammar's intent names (after start and on every reload)."""
        self._announced = grammar
        if self._config.ha_discovery and self._link.connected:
            self._discovery.request()

    def describe(self, model: str) -> None:
        """The speech model's name, once it is loaded (Home Assistant's diagnostic sensor)."""
        self._model = model
        self._publish_ha_state()

    def close(self) -> None:
        """Cancel a re-announcement still waiting (before the link closes)."""
        self._discovery.cancel()

    def speech(self, started: bool) -> None:
        """An utterance started or ended (voiced.stages.SpeechListener): retained `start` / `stop`."""
        self._speaking = started
        self._feedback(self._topics.speech, "start" if started else "stop", retain=True)

    @property
    def listening(self) -> bool:
        return self._mutes.listening

    def set_listening(self, on: bool) -> None:
        """What `listen/set` does: off mutes; on listens again, whatever else had muted it."""
        self._switched(*(self._mutes.clear() if on else self._mutes.switch("listen", False)))

    def switch(self, component: str, on: bool, reason: str = "") -> None:
        """A Hermes toggle: `component` (asr, hotword, audioServer) off or on for `reason`."""
        self._switched(*self._mutes.switch(component, on, reason))
        log.info("hermes/%s/toggle%s%s: %s", component, "On" if on else "Off", f" ({reason})" if reason else "",
                 "listening" if self.listening else f"muted by {', '.join(self._mutes.reasons())}")

    def _switched(self, before: bool, after: bool) -> None:
        if before != after and self._on_listen:  # first, so the retained state never runs ahead of the daemon
            self._on_listen(after)
        self._link.publish_now(self._topics.listen, "on" if after else "off", retain=True)

    def publish(self, utt: Utterance, result: MatchResult, grammar: Grammar) -> List[str]:
        """Publish everything one utterance produces, with the actions `grammar` (the one that
        produced `result`) gives its intent; returns the topics, in order."""
        if not self.listening:  # switched off while this utterance was being transcribed
            log.info("not publishing %r: muted by %s", utt.text, ", ".join(self._mutes.reasons()))
            return []
        messages: List[QosMessage] = []

        def send(topic: str, data: Union[str, Dict[str, Any]], retain: bool = False, qos: int = 1) -> None:
            messages.append((topic, data if isinstance(data, str) else dumps(data), retain, qos))

        self._feedback(self._topics.result, dumps(payloads.result_payload(utt, result, self._site)), retain=False)

        if self._config.publish_transcript:
            send(self._topics.transcript, payloads.transcript_payload(utt, self._site))
        if self._config.hermes:
            send(hermes.TEXT_CAPTURED, hermes.text_captured(utt, result, self._site))
        if result.recognized and result.intent is not None:
            send(self._topics.intent(result.intent), payloads.intent_payload(utt, result, self._site))
            if self._config.hermes:
                send(hermes.intent_topic(result.intent), hermes.heard_intent(utt, result, self._site))
            if self._config.ha_discovery:
                send(self._topics.event, discovery.event_payload(utt, result, self._site))
            for topic, payload, retain, qos in self._actions(result, grammar):
                send(topic, payload, retain, qos)
        else:
            send(self._topics.not_recognized, payloads.not_recognized_payload(utt, result, self._site))
            if self._config.hermes:
                send(hermes.NOT_RECOGNIZED, hermes.heard_not_recognized(utt, self._site))
            if self._config.ha_discovery:
                send(self._topics.event, discovery.event_payload(utt, result, self._site))
        self._link.publish_many(messages)  # one journal write for the whole utterance
        self._last = (utt, result)
        self._publish_ha_state()
        return [message[0] for message in messages]

    def _actions(self, result: MatchResult, grammar: Grammar) -> List[Tuple[str, str, bool, int]]:
        intent = grammar.intents.get(result.intent) if result.intent is not None else None
        action = intent.action if intent is not None else None
        if not action:
            return []
        from voiced.grammar.actions import render_action

        rendered: List[Tuple[str, str, bool, int]] = []
        for one in action if isinstance(action, list) else [action]:
            try:
                topic, payload = render_action(one, result)
            except Exception as exc:  # noqa: BLE001 - a bad action must not lose the intent itself
                log.error("action of intent %s refused (topic %s): %s", result.intent, one.topic, exc)
                continue
            # At the action's own QoS, through the outbox and journal like the intent (voiced.mqtt.link).
            rendered.append((topic, payload, bool(one.retain), one.qos))
        return rendered

    # --- network-thread handlers --------------------------------------------------------

    def _publish_state(self) -> None:
        self._link.publish_now(self._topics.listen, "on" if self.listening else "off", retain=True)
        self._link.publish_now(self._topics.speech, "start" if self._speaking else "stop", retain=True)
        if self._config.ha_discovery:
            self._discovery.request()
            self._publish_ha_state()

    def _publish_ha_state(self) -> None:
        if self._config.ha_discovery:
            utt, result = self._last
            self._feedback(self._topics.state, dumps(discovery.state_payload(self._model, utt, result)), retain=True)

    def _feedback(self, topic: str, payload: str, retain: bool) -> None:
        """Now or never: while disconnected it is dropped here (what is retained is sent again on connect)."""
        if self._link.connected:
            self._link.publish_now(topic, payload, retain=retain)

    def _publish_discovery(self) -> None:
        grammar = self._announced
        if grammar is None:
            return
        for topic, config in discovery.entities(self._topics, grammar.intent_names()):
            self._link.publish_now(topic, dumps(config), retain=True)

    def _handle_listen_set(self, topic: str, payload: bytes) -> None:
        on = payloads.parse_switch(payload)
        if on is None:
            log.warning("ignoring %s payload %r (expected on or off)", topic, payload[:40])
            return
        log.info("listening turned %s over MQTT", "on" if on else "off")
        self.set_listening(on)

    def _handle_ha_status(self, topic: str, payload: bytes) -> None:
        if payload.strip().lower() == b"online":
            self._discovery.request()


class Coalescer:
    """Runs `action` at most once per `interval_s`: a request inside the interval schedules one
    trailing run, and further requests join it. request() never blocks (the MQTT network
    thread calls it); the trailing run happens on a timer thread."""

    def __init__(self, action: Callable[[], None], interval_s: float):
        self._action = action
        self._interval = interval_s
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._timer: Optional[threading.Timer] = None

    def request(self) -> None:
        with self._lock:
            if self._timer is not None:
                return
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._trailing)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._run()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _trailing(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self._run()

    def _run(self) -> None:
        try:
            self._action()
        except Exception:  # noqa: BLE001 - runs on the network or a timer thread
            log.exception("error in %s", getattr(self._action, "__name__", "coalesced action"))
