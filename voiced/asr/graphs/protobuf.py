"""The few pieces of the protobuf wire format voiced reads and writes in ONNX files.

Enough to walk a message's fields and to write length-delimited fields, so that model files
can be inspected and patched without the ``onnx`` package at run time.
"""
from __future__ import annotations

from typing import Iterator, Tuple


def varint(buf, pos: int, end: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError(f"truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload) -> bytes:
    """One length-delimited field (wire type 2)."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + bytes(payload)


def spans(buf, start: int, end: int) -> Iterator[Tuple[int, int, int, int, int]]:
    """(field number, wire type, value or payload start, payload end, field start) of one message."""
    pos = start
    while pos < end:
        first = pos
        key, pos = varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos, end)
            yield number, wire, value, pos, first
            continue
        if wire == 2:
            size, pos = varint(buf, pos, end)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:  # groups (3, 4) are not used by ONNX; anything else is corruption
            raise ValueError(f"unexpected protobuf wire type {wire} at byte {pos}")
        if pos + size > end:
            raise ValueError(f"field {number} at byte {pos} runs past its message")
        yield number, wire, pos, pos + size, first
        pos += size


def fields(buf, start: int, end: int) -> Iterator[Tuple[int, int, int, int]]:
    """(field number, wire type, value or payload start, payload end) of one message."""
    for number, wire, a, b, _ in spans(buf, start, end):
        yield number, wire, a, b
