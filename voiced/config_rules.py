"""Rules between settings of the config schema (voiced.config): what one field's bounds cannot say.

Each rule names the settings it reads and returns a message and a hint when a config breaks it.
`load_config` checks them together with every other problem and places each at the line of the
involved setting given last in the file. An error fails the load; a warning is logged and kept
in `Config.warnings`. `voiced run` checks the errors again once its command-line options have
replaced settings (`validate`), so a broken combination fails before any model loads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from voiced.errors import ConfigError, Problem

if TYPE_CHECKING:
    from voiced.config import Config

Broken = Optional[Tuple[str, str]]  # (message, hint) when the config breaks the rule


@dataclass(frozen=True)
class Rule:
    keys: Tuple[str, ...]  # every setting the rule reads, as key paths
    check: Callable[[Config], Broken]
    doc: str  # the rule in a few words, for the README's configuration reference
    warning: bool = False  # the config works, but not as its author probably meant


def _hysteresis(c: Config) -> Broken:
    v = c.vad
    if v.neg_threshold <= v.threshold:
        return None
    return ((f"neg_threshold {v.neg_threshold} is above threshold {v.threshold}: speech would end at a "
             "probability that starts it"),
            f"set vad.neg_threshold to at most {v.threshold} (about 0.15 below threshold works well)")


def _head_start(c: Config) -> Broken:
    v = c.vad
    # The endpointer counts both in whole 32 ms chunks, rounded up (voiced.vad.endpoint._chunks).
    if not c.speculative or math.ceil(v.post_pad_ms / 32) < math.ceil(v.min_silence_ms / 32):
        return None
    return ((f"post_pad_ms {v.post_pad_ms} covers the whole hangover (min_silence_ms {v.min_silence_ms}, both "
             "in 32 ms steps): speculative finalization gets no head start"),
            "make vad.post_pad_ms at least 32 ms shorter than vad.min_silence_ms, or set speculative: false")


def _file_source(c: Config) -> Broken:
    if c.audio.source != "file" or c.audio.file:
        return None
    return "source is file, but no audio.file is given", "set audio.file to a WAV file, or run with --file WAV"


def _channel(c: Config) -> Broken:
    a = c.audio
    channels = a.channels or (1 if a.source == "stdin" else None)  # raw stdin PCM is mono unless told
    if a.channel is None or channels is None or a.channel < channels:
        return None
    return (f"channel {a.channel} does not exist in {channels} channel(s) (channels count from 0)",
            f"use a channel from 0 to {channels - 1}, or raise audio.channels")


def _password_twice(c: Config) -> Broken:
    if c.mqtt.password is None or c.mqtt.password_file is None:
        return None
    return "both password and password_file are given", "keep one: password_file keeps the secret out of this file"


def _password_without_user(c: Config) -> Broken:
    m = c.mqtt
    if m.username is not None or (m.password is None and m.password_file is None):
        return None
    return ("a password without username is never sent: the broker sees an anonymous client",
            "set mqtt.username too")


def _key_without_cert(c: Config) -> Broken:
    # paho loads keyfile only together with certfile (ssl.SSLContext.load_cert_chain(certfile, keyfile));
    # certfile alone is fine when the PEM holds the key as well.
    if c.mqtt.tls.keyfile is None or c.mqtt.tls.certfile is not None:
        return None
    return "keyfile without certfile is never used", "set mqtt.tls.certfile to the client certificate"


def _cert_without_ca(c: Config) -> Broken:
    t = c.mqtt.tls
    if t.ca_certs is not None or (t.certfile is None and t.keyfile is None):
        return None
    return ("a client certificate without ca_certs: TLS stays off and the certificate is never sent",
            "set mqtt.tls.ca_certs to the CA file of the broker's certificate")


def _insecure_without_tls(c: Config) -> Broken:
    if not c.mqtt.tls.insecure or c.mqtt.tls.ca_certs is not None:
        return None
    return "insecure has no effect: TLS is off without ca_certs", "set mqtt.tls.ca_certs, or leave insecure out"


def _affinity(c: Config) -> Broken:
    m = c.model
    if not m.affinity or m.intra_op_threads is None:
        return None
    extra = m.intra_op_threads - 1  # onnxruntime pins the threads it adds to the calling one
    if extra == 0:
        return "affinity has no effect with one intra-op thread", "leave model.affinity out, or raise intra_op_threads"
    if len(m.affinity) >= extra:
        return None
    return (f"affinity lists {len(m.affinity)} core(s) for {extra} extra intra-op threads: nothing is pinned",
            f"list at least {extra} cores, or leave model.affinity out")


RULES = [
    Rule(("vad.threshold", "vad.neg_threshold"), _hysteresis, "neg_threshold is at most threshold"),
    Rule(("speculative", "vad.min_silence_ms", "vad.post_pad_ms"), _head_start,
         "with speculative, post_pad_ms is shorter than min_silence_ms in 32 ms steps (else no head start)", warning=True),
    Rule(("audio.source", "audio.file"), _file_source, "source file needs a file"),
    Rule(("audio.source", "audio.channels", "audio.channel"), _channel,
         "channel is below channels (stdin: channels defaults to 1)"),
    Rule(("mqtt.password", "mqtt.password_file"), _password_twice, "not both"),
    Rule(("mqtt.username", "mqtt.password", "mqtt.password_file"), _password_without_user,
         "a password needs a username"),
    Rule(("mqtt.tls.certfile", "mqtt.tls.keyfile"), _key_without_cert, "keyfile needs certfile"),
    Rule(("mqtt.tls.ca_certs", "mqtt.tls.certfile", "mqtt.tls.keyfile"), _cert_without_ca,
         "a client certificate needs ca_certs (TLS is off without it)"),
    Rule(("mqtt.tls.ca_certs", "mqtt.tls.insecure"), _insecure_without_tls, "insecure needs ca_certs",
         warning=True),
    Rule(("model.intra_op_threads", "model.affinity"), _affinity,
         "affinity lists a core for each intra-op thread after the first", warning=True),
]


def check_rules(config: Config, lines: Dict[str, int], file: Optional[str],
                skip: Tuple[str, ...] = ()) -> Tuple[List[Problem], List[Problem]]:
    """(errors, warnings) of `config`. `lines` maps the key paths given in the file to their lines;
    a rule reading a key in `skip` (or under it) is not checked: that value already has a problem."""
    errors: List[Problem] = []
    warnings: List[Problem] = []
    for rule in RULES:
        if any(k == s or k.startswith(s + ".") for k in rule.keys for s in skip):
            continue
        broken = rule.check(config)
        if broken is None:
            continue
        given = [k for k in rule.keys if k in lines]
        key = max(given, key=lambda k: lines[k]) if given else rule.keys[0]
        problem = Problem(broken[0], file=file, line=lines.get(key), key=key, hint=broken[1])
        (warnings if rule.warning else errors).append(problem)
    return errors, warnings


def validate(config: Config) -> Config:
    """`config` unchanged, or ConfigError listing every rule it breaks: for a config whose settings
    were replaced after loading (command-line options)."""
    errors, _ = check_rules(config, config.key_lines, config.source_path)
    if errors:
        raise ConfigError(errors)
    return config
