"""What makes a string a topic voiced may publish to: the one place topics are checked.

paho refuses `+` and `#` in a publish topic with ValueError, and a broker drops the whole
connection for a topic with NUL or invalid UTF-8, so one bad topic can stop every later
message. Static parts (site_id, topic_prefix, discovery_prefix, action topics) are checked
when the config and grammar load; parts filled in from speech or slot values are checked
when the message is rendered, and a failing message is refused there with a clear reason.
"""
from __future__ import annotations

from typing import Optional

MAX_TOPIC_BYTES = 65535  # MQTT encodes a topic's length in two bytes
_FORBIDDEN = {"+": "the wildcard '+'", "#": "the wildcard '#'", "\x00": "a NUL character"}


def topic_problem(topic: str) -> Optional[str]:
    """Why `topic` cannot be published to, or None when it can. Several levels are fine."""
    if not isinstance(topic, str):
        return f"a topic must be text, not {type(topic).__name__}"
    if not topic:
        return "the topic is empty"
    for char, name in _FORBIDDEN.items():
        if char in topic:
            return f"the topic contains {name}"
    try:
        encoded = topic.encode("utf-8")
    except UnicodeEncodeError:
        return "the topic is not valid UTF-8 text"
    if len(encoded) > MAX_TOPIC_BYTES:
        return f"the topic is longer than {MAX_TOPIC_BYTES} bytes"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in topic):
        return "the topic contains a control character"
    return None


def prefix_problem(prefix: str) -> Optional[str]:
    """Why `prefix` cannot start topics (one or more levels, e.g. `home/voiced`), or None."""
    problem = topic_problem(prefix)
    if problem:
        return problem
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        return "a topic prefix has no empty levels (no leading, trailing or double '/')"
    return None


def level_problem(level: str) -> Optional[str]:
    """Why `level` cannot be exactly one topic level (a site id, a value filled into a topic)."""
    problem = topic_problem(level)
    if problem:
        return problem.replace("the topic", "the value", 1)
    if "/" in level:
        return "the value contains '/', which would add a topic level"
    return None
