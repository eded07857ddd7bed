"""The daemon's configuration: one validated structure loaded from YAML.

Every setting, its default, unit and range lives here and nowhere else. Sections are frozen
dataclasses; a field's `metadata` holds its documentation and what a value must be (see
voiced.settings); rules between settings live in voiced.config_rules. `load_config` reports
every problem at once, each with file, line and key path. The README's configuration reference
is rendered from the same schema (voiced.config_reference); what a reload applies, the schema
says too (voiced.config_reload).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from voiced import yamlfile
from voiced.config_rules import check_rules
from voiced.errors import ConfigError, Problem
from voiced.settings import check_value, coerce, setting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioConfig:
    source: str = setting("mic", "where audio comes from", choices=["mic", "file", "stdin"])
    device: Optional[Union[int, str]] = setting(
        None, "microphone: PortAudio index, or a case-insensitive substring of its name (names survive reboots)")
    sample_rate: Optional[int] = setting(
        None, "capture rate in Hz; microphone: empty picks a rate the device supports (16 kHz preferred); "
              "stdin: rate of the raw PCM (empty: 16000)",
        min=8000, max=192000)
    channels: Optional[int] = setting(None, "channel count; microphone: empty picks what the device supports; "
                                            "stdin: channels of the raw PCM (empty: 1)", min=1, max=32)
    channel: Optional[int] = setting(None, "use only this channel (0-based); empty downmixes all channels",
                                     min=0, max=31)
    file: Optional[str] = setting(None, "WAV file to play when source is file")
    realtime: bool = setting(True, "file source: play at real-time speed (false: as fast as possible)")
    stdin_format: str = setting("s16le", "stdin source: sample format of the raw PCM",
                                choices=["s16le", "s32le", "f32le"])
    chunk_ms: int = setting(32, "capture block length in milliseconds", min=10, max=200)
    stall_timeout_s: float = setting(5.0, "reopen the microphone when no audio arrives for this long (seconds)",
                                     min=0.5, max=600)
    reopen_backoff_max_s: float = setting(30.0, "longest wait between microphone reopen attempts (seconds)",
                                          min=1, max=3600)


VAD_PHASES = (1, 2, 4)
"""speech probability readings per VAD chunk that `vad.phases` may ask for (voiced.vad.silero)"""


@dataclass(frozen=True)
class VadConfig:
    model: Optional[str] = setting(None, "Silero VAD v5/v6 ONNX file; empty uses the bundled silero_vad_16k_op15.onnx")
    threshold: float = setting(0.5, "speech starts when the probability rises above this (0-1)", min=0.0, max=1.0)
    neg_threshold: float = setting(0.35, "speech continues until the probability falls below this (0-1)",
                                   min=0.0, max=1.0)
    # 96, not Silero's 250: one-word commands ("up", "stop", "pause") often stay above
    # neg_threshold for only 3-5 chunks. Speech Commands tuning speakers as one stream (638
    # words): 21 found no utterance with one reading per chunk and 160 ms; with two readings 17
    # at 160 ms, 12 at 128 and 9 at 96.
    min_speech_ms: int = setting(
        96, "speech must last this long to start an utterance; shorter bursts are ignored (Rhasspy: speech_sec)",
        min=0, max=10000)
    min_silence_ms: int = setting(500, "silence that ends an utterance, the hangover (Rhasspy: silence_sec)",
                                  min=32, max=10000)
    short_silence_ms: int = setting(
        800, "the hangover while an utterance holds less than 320 ms of speech, which may be a command's "
        "first words before a pause (ms; at or below min_silence_ms it changes nothing)", min=0, max=10000)
    # In 12 dB pink noise "turn off all of the | lights in the office" came apart at a masked "of
    # the": 17 chunks read 0.05-0.21 there, against 0.02-0.03 for the noise alone. 0.1 is also
    # where an idle chunk counts as quiet (the VAD's idle reset).
    faint_threshold: float = setting(
        0.1, "a hangover that would end on a reading at or above this, with half its readings that high (a word "
        "half masked by noise), waits up to short_silence_ms for the rest, in an utterance under 6 s (0-1; 0: "
        "never waits)", min=0.0, max=1.0)
    # 500 ms, not Silero's usual 300: Silero often rises only 0.3-0.5 s into a word, and Moonshine
    # returns nothing for a command whose first word is clipped (base-en WER on the corpus's
    # commands: 37/142 errors at 300 ms, 24 at 500, 27 at 700).
    speech_pad_ms: int = setting(500, "audio kept before speech starts, the pre-roll (Rhasspy: before_sec)",
                                 min=0, max=2000)
    # Shorter than min_silence_ms so an utterance's audio is complete before the endpoint is
    # confirmed, and speculative finalization gets the difference as a head start.
    post_pad_ms: int = setting(300, "audio kept after speech ends, part of the hangover (ms)", min=0, max=2000)
    max_utterance_s: float = setting(15.0, "an utterance longer than this is split (seconds; Rhasspy: timeout_sec); "
                                     "the rest, begun mid-speech, is judged at the second look's threshold",
                                     min=1, max=120)
    # Silero's reading of a short word swings with its alignment to the 32 ms grid: "pause"
    # peaks anywhere from 0.24 to 0.93 as it moves by 64 samples. More readings per chunk, the
    # largest counting, keep one-word commands from being dropped as blips: behind quiet noise
    # "pause" was heard at 5 of 16 places with one, 12 with two and all 16 with four.
    phases: int = setting(4, "speech probability readings per 32 ms chunk: 1, 2 or 4 (the others 1/2 or 1/4 of a "
                          "chunk later; the largest counts, so short words are not dropped)", choices=list(VAD_PHASES))
    idle_reset_s: float = setting(
        1.0, "restart the VAD's recurrent state after every this long of quiet between utterances (seconds; "
        "0: never); Silero drifts over long quiet and then misses the start of short words", min=0.0, max=60.0)


@dataclass(frozen=True)
class ModelConfig:
    path: Optional[str] = setting(None, "model directory; empty resolves the default model (see README)")
    intra_op_threads: Optional[int] = setting(
        None, "onnxruntime intra-op threads for the recogniser; empty plans from the board", min=1, max=64)
    inter_op_threads: int = setting(1, "onnxruntime inter-op threads", min=1, max=8)
    affinity: Optional[List[int]] = setting(
        None, "CPU cores to pin recogniser threads to; empty plans from the board")
    spinning: bool = setting(False, "let onnxruntime threads spin while idle (costs CPU on a Pi)")
    vad_threads: int = setting(1, "onnxruntime intra-op threads for the VAD (one is plenty for 32 ms frames)",
                               min=1, max=8)
    max_tokens_per_second: float = setting(
        6.5, "decoding stops after this many tokens per second of audio (runaway guard)", min=1, max=50)
    int8_decode: bool = setting(
        True, "base-en: decode on the 8-bit token-tree copy of the decoder step (a third of the decode time; "
        "the same words on the real clips)")


@dataclass(frozen=True)
class GrammarConfig:
    paths: List[str] = setting(["commands.yaml"],
                               "command set files or directories, relative to this config file")
    threshold: float = setting(0.72, "reject matches whose confidence is below this (0-1)", min=0.0, max=1.0)
    tie_margin: float = setting(0.04, "reject when two different intents score within this margin (0-1)",
                                min=0.0, max=1.0)
    slot_threshold: float = setting(
        0.8, "reject when a slot value was heard less similar than this to any listed value (0-1)",
        min=0.0, max=1.0)


@dataclass(frozen=True)
class RescoringConfig:
    mode: str = setting("uncertain", "acoustic rescoring of grammar candidates",
                        choices=["off", "uncertain", "always"])
    # 8 + 8 neighbours accepted as many tuning commands as 12 + 8.
    max_candidates: int = setting(
        8, "most sentences from the matcher's parses scored per utterance, besides the neighbours (each "
        "sentence adds decoder work)", min=1, max=256)
    values_per_slot: int = setting(4, "closest other values tried for each uncertain slot", min=0, max=64)
    # 12 accepted 1 more tuning command than 8 for 14 % more scoring time; 16 2 more for 28 %.
    neighbours: int = setting(
        12, "grammar sentences that sound closest to the whole transcript, scored as well (for transcripts "
        "garbled past word-by-word matching; 0 turns the sentence index off)", min=0, max=64)
    # 3 changed no tuning decision and cut the median scoring time by 40 %; 4 lost 2 commands.
    neighbours_gap: float = setting(
        3.0, "search the neighbours only when the best matcher-based sentence scores more than this below "
        "the free transcription, in a second decoder call (log-probability; .inf: always search, in one call)",
        min=0.0, allow_inf=True)
    # A long command with one misheard word still matches at 0.95 or so ("light roast sixty hounds
    # coffee" -> 0.986, the size lost); 0.99 rescored those: +4 of 125 synthetic coffee orders,
    # nothing else changed on the tuning sets.
    uncertain_below: float = setting(
        0.99, "mode uncertain: rescore matches whose confidence is below this, and every rejection (0-1)",
        min=0.0, max=1.0)
    # Tuned for most right minus wrong answers; out-of-grammar speech scored 8 or more.
    max_gap: float = setting(
        5.5, "not recognized when the free transcription's score exceeds the best grammar sentence's by "
        "more than this (log-probability / tokens**length_alpha)", min=0.0, max=100.0)
    # Single words of out-of-grammar speech came within 2.8 of a one-word command, spoken ones within 2.
    max_gap_one_word: float = setting(
        2.0, "max_gap for a one-word command (\"next\", \"pause\")", min=0.0, max=100.0)
    prune_after: int = setting(
        4, "score the sentences' first this many tokens first, and finish only those within prune_gap of "
        "the best opening (0: score every sentence whole); for sentences scored as a batch (v2 models), "
        "not as one token tree", min=0, max=64)
    # 10 changed no tuning decision and saved about 14 % of the scoring time.
    prune_gap: float = setting(
        10.0, "log-probability an opening may trail the best one and still be finished", min=0.0, max=1000.0)
    # Rescoring took 0.52x the float step's time, with the same decisions on the tuning sets.
    int8_step: bool = setting(
        True, "score with an 8-bit copy of a v1 (base-en) decoder's step, built at start (about 2 s), that "
        "runs all sentences as one token tree (v2 models are 8-bit already)")
    length_alpha: float = setting(
        0.5, "length normalisation: score = log-probability / tokens**alpha (1 mean, 0 sum)", min=0.0, max=2.0)
    # Searching the whole shipped grammar (fallback), tuning split: 73.6 -> 82.4 % of commands accepted, 9 -> 7
    # wrong, the same median compute; but on an hour of synthetic chatter (the tune split of `voiced eval-set
    # negatives`) 0 -> 13 false accepts, 2 with constrained_words_ratio, and sung phrases read as fixed ones
    # ("From the sea" as "forget it"). auto searches only the templates that say a slot value (what a
    # misheard transcript garbles past any list) and what the index cannot hold: held out, the synthetic split
    # 62.4 -> 72.0 %, with no false accept in 4 h of hazards; coffee orders of 1.35e8 sentences, tune split
    # 30.2 -> 56.2 % accepted, 0 of 24 out-of-grammar clips either way.
    constrained: str = setting(
        "auto", "grammar-constrained decoding: the decoder searches the grammar's own sentences on the "
        "utterance's audio (a token automaton of the grammar, beam search) and its best sentences join the "
        "candidates, in place of the neighbours; fallback: when no matcher-based sentence fits within "
        "neighbours_gap of the free transcription; always: whenever rescoring runs; auto: as fallback, but "
        "only the templates in which a slot value is said and the intents with a template too large for the "
        "neighbour index (rescoring.max_index_sentences) are searched, beside the neighbours",
        choices=["off", "auto", "fallback", "always"])
    constrained_max_gap: float = setting(
        4.5, "max_gap when the grammar-constrained search ran: the best of the whole grammar fits stray speech "
        "better than the best of a few candidates, so the free transcription must agree more",
        min=0.0, max=100.0)
    # Commands the search recovered on the tuning split said at most 2 words per word of the sentence
    # (plus one); stray speech it matched to a short command mostly far more. 1.5 gave the most right
    # minus wrong minus false accepts on the tune splits (2: one more command, two more false accepts).
    constrained_words_ratio: float = setting(
        1.5, "when the grammar-constrained search ran, not recognized when the free transcription says more "
        "than this many words per word of the best sentence, plus one: scores are length-normalised, so "
        "long stray speech otherwise fits a short command (.inf: no limit)", min=0.0, max=100.0, allow_inf=True)
    constrained_beam: int = setting(
        6, "grammar-constrained decoding: prefixes kept per decoder call (each call adds decoder work)", min=1,
        max=64)
    # The shipped grammar has 118 406 sentences.
    max_index_sentences: int = setting(
        300000, "most sentences the neighbour search indexes (about 110 bytes each, 130 while the index is "
        "built at start); a template that would exceed it is left out of the index, smallest kept first, with "
        "a warning that check-config also gives", min=1000, max=100000000)


@dataclass(frozen=True)
class DecisionConfig:
    mode: str = setting(
        "calibrated", "accept or reject each reading with the fitted model of voiced/decision (calibrated), or "
        "by the rescoring gaps alone (off)", choices=["calibrated", "off"])
    # 0.1: what wake-word engines aim at; a voiced false accept executes an action.
    max_false_accepts_per_hour: float = setting(
        0.1, "the decision's threshold: the lowest at which the calibration's tuning negatives gave at most this "
        "many false accepts per hour (lower: fewer actions on stray speech, more commands missed)",
        min=0.0, max=1000.0)
    calibration: Optional[str] = setting(
        None, "calibration file written by `voiced calibrate fit`; empty: the bundled one (fitted for base-en; "
        "a calibration applies only to the model it was fitted for)")
    # base-en's reading moves with where its frames fall on the audio: on the real-command stream,
    # 11 of the 15 commands the decision turned away were read right half a frame later.
    second_look: bool = setting(
        True, "read a rejected utterance once more with its audio half an encoder frame later, and accept that "
        "reading only above the threshold where the calibration's tuning negatives gave no false accept "
        "(needs a calibration)")


@dataclass(frozen=True)
class TlsConfig:
    ca_certs: Optional[str] = setting(None, "CA certificate file (PEM); enables TLS")
    certfile: Optional[str] = setting(None, "client certificate (PEM)")
    keyfile: Optional[str] = setting(None, "client private key (PEM)")
    insecure: bool = setting(False, "skip broker hostname verification (testing only)")


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = setting(True, "publish to an MQTT broker (false: print intents to stdout)")
    host: str = setting("localhost", "broker host name or address")
    port: int = setting(1883, "broker port", min=1, max=65535)
    client_id: Optional[str] = setting(None, "MQTT client id; empty uses voiced-<site_id>", nonempty=True)
    username: Optional[str] = setting(None, "broker user name")
    password: Optional[str] = setting(None, "broker password")
    password_file: Optional[str] = setting(None, "file holding the broker password (keeps it out of this file)")
    keepalive_s: int = setting(30, "MQTT keepalive (seconds)", min=5, max=3600)
    reconnect_max_s: int = setting(60, "longest wait between reconnect attempts (seconds)", min=1, max=3600)
    topic_prefix: str = setting("voiced", "first level(s) of every topic", topic="prefix")
    queue_size: int = setting(1000, "intents kept while the broker is unreachable; the oldest are dropped beyond",
                              min=1, max=1000000)
    journal: bool = setting(True, "keep unacknowledged messages in a journal file too, so a restart, crash or "
                                  "power cut while the broker is away loses none")
    state_dir: Optional[str] = setting(
        None, "folder for the journal; empty: $STATE_DIRECTORY (systemd's StateDirectory=, /var/lib/voiced), "
              "else ~/.local/state/voiced", nonempty=True)
    publish_transcript: bool = setting(False, "also publish every transcript")
    hermes: bool = setting(False, "also publish Hermes (Rhasspy) topics and payloads")
    ha_discovery: bool = setting(False, "announce voiced to Home Assistant (MQTT discovery) as one device per site: "
                                        "command events, a listening switch, speech and transcript sensors")
    discovery_prefix: str = setting("homeassistant", "Home Assistant discovery prefix", topic="prefix")
    tls: TlsConfig = field(default_factory=TlsConfig, metadata={"doc": "TLS settings"})


@dataclass(frozen=True)
class Zigbee2mqttConfig:
    base_topic: Optional[str] = setting(
        None, "zigbee2mqtt's base topic (its mqtt.base_topic, usually zigbee2mqtt); setting it adds commands for "
              "every device and group it announces on <base_topic>/bridge/devices, kept up to date; empty: off",
        topic="prefix", nonempty=True)
    groups: bool = setting(True, "also offer commands for zigbee2mqtt groups (bridge/groups)")


@dataclass(frozen=True)
class SourcesConfig:
    zigbee2mqtt: Zigbee2mqttConfig = field(default_factory=Zigbee2mqttConfig,
                                           metadata={"doc": "devices announced by zigbee2mqtt"})


@dataclass(frozen=True)
class DebugConfig:
    recordings_dir: Optional[str] = setting(None, "save each utterance as WAV + JSON here; empty disables")
    max_recordings: int = setting(200, "keep at most this many recordings (oldest deleted first)", min=1, max=100000)


@dataclass(frozen=True)
class LoggingConfig:
    level: str = setting("INFO", "log level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


@dataclass(frozen=True)
class Config:
    # live=False: the stages, the MQTT link and the models are built once at start, so a reload
    # (SIGHUP) leaves these as they are and logs that they need a restart.
    site_id: str = setting("default", "name of this satellite; in every topic and payload", topic="level",
                           live=False)
    speculative: bool = setting(True, "start finalizing while the end-of-speech hangover runs", live=False)
    audio: AudioConfig = field(default_factory=AudioConfig, metadata={"doc": "audio input", "live": False})
    vad: VadConfig = field(default_factory=VadConfig,
                           metadata={"doc": "voice activity detection and endpointing", "live": False})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"doc": "speech recogniser", "live": False})
    grammar: GrammarConfig = field(default_factory=GrammarConfig, metadata={"doc": "command sets and matching"})
    rescoring: RescoringConfig = field(default_factory=RescoringConfig,
                                       metadata={"doc": "grammar-aware acoustic rescoring"})
    decision: DecisionConfig = field(default_factory=DecisionConfig,
                                     metadata={"doc": "the calibrated accept/reject decision"})
    mqtt: MqttConfig = field(default_factory=MqttConfig, metadata={"doc": "MQTT broker and topics", "live": False})
    # the zigbee2mqtt watcher subscribes once, when the broker link starts
    sources: SourcesConfig = field(default_factory=SourcesConfig,
                                   metadata={"doc": "vocabulary from outside the command sets", "live": False})
    debug: DebugConfig = field(default_factory=DebugConfig, metadata={"doc": "debug recordings"})
    logging: LoggingConfig = field(default_factory=LoggingConfig, metadata={"doc": "logging"})
    # Where the file was loaded from; relative paths in it resolve against its folder.
    source_path: Optional[str] = field(default=None, compare=False, metadata={"internal": True})
    # The line of every key path the file gives, for problems found after loading (voiced.config_rules).
    key_lines: Dict[str, int] = field(default_factory=dict, compare=False, repr=False, metadata={"internal": True})
    # Rules between settings that the file breaks without being wrong (logged at load).
    warnings: List[Problem] = field(default_factory=list, compare=False, repr=False, metadata={"internal": True})

    def resolve(self, path: Optional[str]) -> Optional[Path]:
        """Resolve a path from the config file relative to the file's folder."""
        if path is None:
            return None
        p = Path(os.path.expanduser(path))
        if not p.is_absolute() and self.source_path:
            p = Path(self.source_path).parent / p
        return p


# --- loading and validation -------------------------------------------------------------

def load_config(path: Optional[Union[str, Path]] = None, text: Optional[Union[str, bytes]] = None) -> Config:
    """Load and validate a config file (or YAML text). Raises ConfigError listing every problem."""
    name = str(path) if path is not None else "<config>"
    if text is None:
        if path is None:
            return Config()
        text = _read(Path(path), name)
    node, problems = yamlfile.parse(text, name)
    if node is None:
        if problems:
            raise ConfigError(problems)
        return dataclasses.replace(Config(), source_path=str(path) if path else None)
    lines: Dict[str, int] = {}
    config = values_to_config(_build(Config, node, "", name, problems, lines))
    # Rules between settings, except where a setting they read is already wrong (its default stands in).
    errors, warnings = check_rules(config, lines, name, skip=tuple(p.key for p in problems if p.key))
    problems.extend(errors)
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise ConfigError(problems)
    warnings.sort(key=lambda p: p.line or 0)
    for warning in warnings:
        log.warning("%s", warning)
    return dataclasses.replace(config, source_path=str(path) if path else None, key_lines=lines, warnings=warnings)


def _read(path: Path, name: str) -> bytes:
    if path.is_dir():
        raise ConfigError([Problem("is a directory, not a config file", file=name,
                                   hint="pass --config with the YAML file itself")])
    try:
        return path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError([Problem(f"cannot read config: {getattr(exc, 'strerror', None) or exc}", file=name,
                                   hint="pass --config with an existing, readable file")]) from None


def values_to_config(values: Dict[str, Any]) -> Config:
    return Config(**values)


def _build(cls: type, node: yaml.Node, prefix: str, file: str, problems: List[Problem],
           lines: Dict[str, int]) -> Dict[str, Any]:
    """Turn a YAML mapping node into constructor arguments for dataclass `cls`; `lines` gets the
    line of every key path read."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem("expected a mapping of settings", file=file, line=node.start_mark.line + 1,
                                key=prefix or None))
        return {}
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    hints = typing.get_type_hints(cls)
    out: Dict[str, Any] = {}
    seen: Dict[str, int] = {}
    for key_node, value_node in node.value:
        key = key_node.value  # yamlfile.parse guarantees scalar keys
        path = f"{prefix}.{key}" if prefix else key
        line = key_node.start_mark.line + 1
        if key in seen:
            problems.append(Problem("setting given twice", file=file, line=line, key=path,
                                    hint=f"first at line {seen[key]}; keep one"))
            continue
        seen[key] = line
        lines[path] = line
        if key not in fields:
            close = _closest(key, list(fields))
            problems.append(Problem("unknown setting", file=file, line=line, key=path,
                                    hint=f"did you mean '{close}'?" if close else f"known: {', '.join(fields)}"))
            continue
        ftype = hints[key]
        if dataclasses.is_dataclass(ftype):
            out[key] = ftype(**_build(ftype, value_node, path, file, problems, lines))
            continue
        value_line = value_node.start_mark.line + 1
        try:
            value = yamlfile.construct(value_node)
        except yamlfile.BadValue as exc:
            problems.append(Problem(f"cannot read value: {exc}", file=file, line=value_line, key=path,
                                    hint="quote the text, or write a plain number"))
            continue
        problem = check_value(value, ftype, fields[key].metadata)
        if problem:
            problems.append(Problem(problem[0], file=file, line=value_line, key=path, hint=problem[1]))
        else:
            out[key] = coerce(value, ftype)
    return out


def _closest(word: str, options: List[str]) -> Optional[str]:
    import difflib

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def is_live(f: dataclasses.Field, section_live: bool) -> bool:
    """Whether a reload (SIGHUP) applies setting `f`: yes unless it, or the section it is in
    (`section_live`), says live=False."""
    return bool(f.metadata.get("live", section_live))
