"""`voiced run`: the daemon, wired top-down.

    audio source ──(capture thread)──▶ bounded queue ──(processing thread)──▶
        Silero VAD + endpointer ─▶ transcriber ─▶ matcher ─▶ publisher ──(MQTT network thread)──▶ broker

The capture thread only moves audio blocks into the queue. Every ONNX call (VAD and
recogniser) runs on the processing thread. The MQTT thread belongs to paho and only sends,
receives and flips the `listening` flag. The main thread loads everything, sends sd_notify
READY=1, then waits for signals: SIGTERM/SIGINT stop it cleanly, SIGHUP reloads the grammar
and the settings that can change live.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, BinaryIO, Callable, List, Optional, Tuple

from voiced.audio import SAMPLE_RATE
from voiced.config import Config, load_config
from voiced.config_reload import reloaded, restart_needed
from voiced.vad.endpoint import SPEECH_END, SPEECH_START, Event
from voiced.errors import BrokerError, ConfigError, Problem, ProblemsError, VoicedError
from voiced.interpreter import load_matcher, make_recorder
from voiced.runtime.notify import Notifier, watchdog_interval_s
from voiced.sources import zigbee2mqtt
from voiced.stages import NO_OBSERVER, Observer

if TYPE_CHECKING:
    import numpy as np

    from voiced.audio.base import AudioSource
    from voiced.vad.endpoint import Endpointer
    from voiced.interpreter import Interpreter
    from voiced.pipeline import UtteranceProcessor
    from voiced.mqtt.publisher import Link, Publisher
    from voiced.stages import TextMatcher

__all__ = ["Daemon", "load_matcher", "make_recorder", "run_daemon"]

log = logging.getLogger(__name__)

QUEUE_SECONDS = 10.0  # audio the capture thread may run ahead of processing before it waits
STOP_TIMEOUT_S = 8.0  # processing must finish the utterance in flight within this at shutdown
_END = None  # queue sentinel: the source has no more audio


class Daemon:
    """One run of the service. `reload_config` re-reads the config (with the same CLI overrides);
    `observer` watches the audio path (benchmarks)."""

    # Built by start(): the stages, threads and connection of this run.
    publisher: Publisher
    endpointer: Endpointer
    processor: UtteranceProcessor
    source: AudioSource
    model_name: str
    _queue: queue.Queue[Optional[np.ndarray]]
    _threads: List[threading.Thread]

    def __init__(self, config: Config, reload_config: Optional[Callable[[], Config]] = None,
                 notifier: Optional[Notifier] = None, stdin: Optional[BinaryIO] = None,
                 observer: Observer = NO_OBSERVER):
        self.config = config
        self._reload_config = reload_config
        self.notifier = notifier or Notifier()
        self.observer = observer
        self._stdin = stdin
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._done = threading.Event()
        self._listening = threading.Event()
        self._listening.set()
        self._failure: Optional[BaseException] = None
        self.link: Optional[Link] = None
        self.capture_stuck = False
        self._watchdog_s = watchdog_interval_s() or 10.0
        self._last_ping = 0.0
        self._device_grammar: Optional[str] = None  # zigbee2mqtt's devices as a grammar file, when on

    # --- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load and warm everything, connect, open the source, start the threads, then READY=1."""
        from voiced.asr.models import resolve_model
        from voiced.audio.sources import open_source
        from voiced.paths import models_dir
        from voiced.pipeline import build_stages
        from voiced.mqtt.publisher import Publisher, open_link, topics_for
        from voiced.runtime.threads import plan_for_config

        cfg = self.config
        self.notifier.status("loading grammar")
        grammar, matcher = load_matcher(cfg)
        try:
            self.link = link = open_link(cfg)  # ConfigError names an unreadable password, TLS or journal file
            self.publisher = Publisher(link, topics_for(cfg), cfg.mqtt, cfg.site_id, on_listen=self._set_listening,
                                       matcher=self.current_matcher)
            self.publisher.announce(grammar)
            # Retained device lists arrive right after connecting; each new one reloads as SIGHUP does.
            zigbee2mqtt.watch(link, cfg.sources.zigbee2mqtt, self._devices_changed)
            link.start()
        except BrokerError as exc:  # credentials or TLS: a restart cannot fix it
            raise ConfigError([Problem(str(exc), file=cfg.source_path, key="mqtt")]) from None

        self.notifier.status("loading models")
        _, plan = plan_for_config(cfg.model)
        files = resolve_model(cfg.resolve(cfg.model.path), models_dir())
        self.model_name = files.name
        self.publisher.describe(files.name)
        self.endpointer, self.processor = build_stages(cfg, files, plan.asr, plan.vad.intra_op_threads, matcher,
                                                       self.publisher, make_recorder(cfg), self.observer)

        self.source = open_source(cfg.audio, stdin=self._stdin,
                                  base_dir=Path(cfg.source_path).parent if cfg.source_path else None)
        chunk_s = cfg.audio.chunk_ms / 1000.0
        self._queue = queue.Queue(maxsize=max(8, int(QUEUE_SECONDS / chunk_s)))
        self._threads = [threading.Thread(target=self._capture, name="capture", daemon=True),
                         threading.Thread(target=self._process, name="processing", daemon=True)]
        for thread in self._threads:
            thread.start()
        self.notifier.ready(f"listening ({cfg.audio.source}, model {files.name}, site {cfg.site_id})")
        log.info("ready: listening on %s, model %s, %d intents", cfg.audio.source, files.name,
                 len(grammar.intent_names()))

    # --- main thread --------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until stopped or the input ends, shut down. Returns the exit code."""
        self._install_signals()
        try:
            self.start()
        except BaseException:
            if self.link is not None:
                self.link.close(wait_s=0)  # retained offline now, not only via the Last Will
            raise
        while not self._done.wait(0.2):
            if self._stop.is_set():
                break
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
        return self.shutdown()

    def _install_signals(self) -> None:
        def stop(signum: int, frame: Optional[FrameType]) -> None:
            self._stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, lambda signum, frame: self._reload.set())

    def stop(self) -> None:
        """Ask the daemon to stop (what SIGTERM does); safe from any thread."""
        self._stop.set()

    def reload(self) -> bool:
        """Re-read config and grammar; on any error keep the old ones and log every problem."""
        self.notifier.notify("RELOADING=1", "STATUS=reloading grammar")
        try:
            new, interpreter = self._build_reload()
        except ProblemsError as exc:
            for problem in exc.problems:
                log.error("reload: %s", problem)
            return self._reload_failed(f"{len(exc.problems)} problems")
        except Exception as exc:  # noqa: BLE001 - a bad file must never take the running daemon down
            log.debug("reload failed", exc_info=True)
            log.error("reload: %s", _one_line(exc))
            return self._reload_failed(type(exc).__name__)
        changed = restart_needed(self.config, new)  # the schema's live=False settings
        if changed:
            log.warning("changes to %s take effect after a restart", ", ".join(changed))
        # One swap: the next utterance is matched, rescored, recorded and published (with its
        # actions) by the new grammar's interpreter; one in flight finishes with the old one.
        self.processor.use(interpreter)
        self.publisher.announce(interpreter.grammar)  # Home Assistant learns the new intent names
        logging.getLogger().setLevel(new.logging.level)
        self.config = reloaded(self.config, new)
        log.info("reloaded: %d intents", len(interpreter.grammar.intent_names()))
        self.notifier.notify("READY=1", "STATUS=listening (reloaded)")
        return True

    def _build_reload(self) -> Tuple[Config, Interpreter]:
        """Everything a reload swaps in, built completely before anything is swapped."""
        from voiced.interpreter import build_interpreter

        new = self._reload_config() if self._reload_config else self.config
        # the new rescorer scores with the running recogniser's own decoder
        return new, build_interpreter(new, self.processor.transcriber, recorder=make_recorder(new),
                                      extra=zigbee2mqtt.extra_files(self._device_grammar))

    def _devices_changed(self, text: Optional[str]) -> None:
        """MQTT thread: keep zigbee2mqtt's new commands; the main loop reloads as on SIGHUP."""
        self._device_grammar = text
        self._reload.set()

    def _reload_failed(self, why: str) -> bool:
        log.error("reload failed (%s); still using the previous grammar and settings", why)
        self.notifier.notify("READY=1", "STATUS=listening (last reload failed, see the log)")
        return False

    def shutdown(self) -> int:
        """Stop intake, finish the utterance in flight, publish offline, disconnect."""
        self._stop.set()
        self.notifier.stopping("finishing the last utterance")
        self.source.stop()
        processing = self._threads[1]
        processing.join(STOP_TIMEOUT_S)
        if processing.is_alive():
            log.error("processing did not finish within %.0f s; exiting anyway", STOP_TIMEOUT_S)
        self.publisher.close()
        # Waits up to 3 s for the broker too; what it does not acknowledge stays in the journal.
        if self.link is not None:  # always, once start() has run
            self.link.close(wait_s=3.0)
        self.source.close()
        self._threads[0].join(1.0)
        self.capture_stuck = self._threads[0].is_alive()
        if self._failure is not None:
            log.error("stopped after an error: %s", self._failure)
            return 1
        log.info("stopped: %d utterances", self.processor.completed)
        return 0

    # --- MQTT thread ----------------------------------------------------------------------

    def _set_listening(self, on: bool) -> None:
        # Only flips a flag: the processing thread notices and resets its state itself.
        (self._listening.set if on else self._listening.clear)()

    def current_matcher(self) -> Optional[TextMatcher]:
        """The matcher of the interpreter in use now (a reload swaps it), for text queries
        (hermes/nlu/query); None until start() has built the processor."""
        processor = getattr(self, "processor", None)  # set by start(), after the broker connection
        return processor.interpreter.matcher if processor is not None else None

    # --- capture thread -------------------------------------------------------------------

    def _capture(self) -> None:
        try:
            for block in self.source.chunks():
                self.observer.block_queued(len(block))
                if not self._put(block):
                    return
        except VoicedError as exc:
            log.error("audio input failed: %s", exc)
            self._failure = exc
        except Exception as exc:  # noqa: BLE001 - report any capture crash, then stop cleanly
            log.exception("audio capture crashed")
            self._failure = exc
        self._put(_END)

    def _put(self, item: Optional[np.ndarray]) -> bool:
        """Wait for room (back-pressure, so no audio is lost) unless processing has ended."""
        while not self._done.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    # --- processing thread ----------------------------------------------------------------

    def _process(self) -> None:
        try:
            self._process_loop()
        except Exception as exc:  # noqa: BLE001 - the main thread turns this into exit code 1
            log.exception("processing crashed")
            self._failure = exc
        finally:
            self._done.set()

    def _handle(self, event: Event) -> None:
        in_utterance = self.processor.in_utterance
        t0 = time.perf_counter()
        self.processor.handle(event)
        if event.kind == SPEECH_START:
            self.notifier.status("hearing speech")
        elif event.kind == SPEECH_END:
            self.notifier.status("listening")
        self.observer.event_handled(event, in_utterance, time.perf_counter() - t0)

    def _process_loop(self) -> None:
        feed, handle = self.endpointer.feed, self._handle
        listening = True
        started = False
        while True:
            try:
                block = self._queue.get(timeout=0.2 if self._stop.is_set() else min(1.0, self._watchdog_s))
            except queue.Empty:
                if self._stop.is_set():  # intake stopped and drained (a blocked reader never sends _END)
                    break
                self._heartbeat()
                continue
            self._heartbeat()
            if block is _END:
                break
            if not started:
                self.processor.stream_started(time.time() - len(block) / SAMPLE_RATE)
                started = True
            if listening != self._listening.is_set():
                listening = not listening
                if not listening:  # muted: forget any half-heard utterance
                    self.endpointer.reset()
                    self.processor.abandon()
                else:  # the reset endpointer counts stream time from this block again
                    self.processor.stream_started(time.time() - len(block) / SAMPLE_RATE)
            if listening:
                for event in feed(block):
                    handle(event)
        events: List[Event] = self.endpointer.flush() if listening else []
        for event in events:  # closes the utterance in flight at shutdown or end of input
            handle(event)

    def _heartbeat(self) -> None:
        """WATCHDOG=1 while this loop turns and the MQTT thread lives; otherwise systemd restarts us."""
        now = time.monotonic()
        if now - self._last_ping < self._watchdog_s:
            return
        self._last_ping = now
        if self.link is not None and self.link.alive():
            self.notifier.watchdog()
        else:
            log.error("MQTT network thread is not running; withholding the watchdog ping")


def _one_line(exc: BaseException) -> str:
    """An unexpected error as one log line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_daemon(config_path: Optional[Path], override: Callable[[Config], Config] = lambda c: c,
               stdin: Optional[BinaryIO] = None) -> int:
    """Load the config, apply command-line overrides, run until stopped."""
    def load() -> Config:
        return override(load_config(config_path) if config_path else Config())

    daemon = Daemon(load(), reload_config=load, stdin=stdin)
    code = daemon.run()
    if daemon.capture_stuck:
        # The capture thread is blocked in a read that stop() cannot interrupt (an idle pipe).
        # Everything is published and closed; leave now instead of hanging in interpreter
        # shutdown, which would wait on that reader's lock.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code
