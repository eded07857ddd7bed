"""Keep the weights that several ONNX graphs have in common in memory once.

The v2 decoder ships as two graphs: one for the first step and one for the cached steps. Nearly
all of the second graph's weights are byte for byte tensors of the first, stored under other
names (the exporter numbers its quantized tensors per graph). Each onnxruntime session would
hold its own copy. Here every common tensor becomes one OrtValue over a read-only memory map of
the first file, and both sessions get it through ``SessionOptions.add_initializer``. The mapped
pages are clean file pages: they are counted once and the kernel can drop them under pressure.

onnxruntime pre-packs (re-lays out) matrix weights into private buffers when it creates a
session, and cannot share those between sessions from Python. A session may therefore take the
shared bytes as they are (pre-packing off: no copy, but matrix products run slower) or keep one
pre-packed private copy; the decoder pre-packs only the cached step, which runs once per token.

The sessions are built from a copy of the model without the bytes of its large tensors: each
points at its own place in the original file (ONNX external data). onnxruntime keeps the model
bytes it was given for the life of the session and parses them into a transient copy, so this
keeps both small; the shared tensors come from the memory map, the others are read from the file.

Only a few fields of the ONNX protobuf are read (ModelProto.graph, GraphProto.initializer,
TensorProto dims/data_type/name/raw_data/data_location), with a minimal wire-format walker, so
the ``onnx`` package is not needed at run time. A file that does not look exactly as expected
(external data, unknown types, a malformed message) is not shared; loading then happens as usual.
"""
from __future__ import annotations

import hashlib
import logging
import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.asr.graphs.protobuf import encode_varint, field, fields, spans, varint

log = logging.getLogger(__name__)

MIN_SHARED_BYTES = 4096
"""smaller tensors (scales, zero points, biases) are not worth the bookkeeping"""
DISABLE_PREPACKING = "session.disable_prepacking"

# TensorProto.DataType -> numpy; only types whose raw_data is a plain little-endian array.
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
          7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}

_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_T_DIMS, _T_TYPE, _T_SEGMENT, _T_NAME, _T_RAW, _T_EXTERNAL, _T_LOCATION = 1, 2, 3, 8, 9, 13, 14
_TYPED_DATA = {4, 5, 6, 7, 10, 11}  # float_data, int32_data, string_data, int64_data, double, uint64


@dataclass(frozen=True)
class Initializer:
    """One graph initializer whose bytes sit in the file as raw_data."""

    name: str
    dtype: int
    """ONNX TensorProto data type"""
    dims: Tuple[int, ...]
    offset: int
    """byte offset of raw_data in the file"""
    length: int


def parse_initializer(buf, start: int, end: int) -> Optional[Initializer]:
    """The initializer at buf[start:end], or None when its bytes are not plain raw_data."""
    name, dtype, dims, raw = "", 0, [], None
    for number, wire, a, b in fields(buf, start, end):
        if number == _T_DIMS:
            if wire == 0:
                dims.append(a)
            else:  # packed
                pos = a
                while pos < b:
                    value, pos = varint(buf, pos, b)
                    dims.append(value)
        elif number == _T_TYPE and wire == 0:
            dtype = a
        elif number == _T_NAME and wire == 2:
            name = bytes(buf[a:b]).decode("utf-8")
        elif number == _T_RAW and wire == 2:
            raw = (a, b - a)
        elif number in (_T_SEGMENT, _T_EXTERNAL) or (number == _T_LOCATION and a != 0):
            raise ValueError(f"initializer {name or '?'} is segmented or stored outside the file")
        elif number in _TYPED_DATA:
            return None  # typed-field data (small constants): leave it to onnxruntime
    if raw is None or not name or dtype not in DTYPES:
        return None
    itemsize = np.dtype(DTYPES[dtype]).itemsize
    if math.prod(dims) * itemsize != raw[1]:
        return None
    return Initializer(name, dtype, tuple(dims), raw[0], raw[1])


def read_initializers(buf) -> List[Initializer]:
    """Top-level graph initializers held as raw_data in the ONNX model in `buf` (bytes or mmap).

    Tensors of other types or in typed fields are left out; external data, several graphs or a
    malformed file raise ValueError.
    """
    found: List[Initializer] = []
    graphs = 0
    for number, wire, a, b in fields(buf, 0, len(buf)):
        if number == _MODEL_GRAPH and wire == 2:
            graphs += 1
            for n, w, ta, tb in fields(buf, a, b):
                if n == _GRAPH_INITIALIZER and w == 2:
                    tensor = parse_initializer(buf, ta, tb)
                    if tensor is not None:
                        found.append(tensor)
    if graphs != 1:
        raise ValueError(f"{graphs} graphs in the model, expected 1")
    return found


def _digest(fd: int, tensor: Initializer) -> bytes:
    # pread, not the memory map: touching every page of both files through a mapping would
    # count them all in this process's peak RSS.
    h = hashlib.blake2b(digest_size=20)
    pos, left = tensor.offset, tensor.length
    while left:
        chunk = os.pread(fd, min(left, 1 << 22), pos)
        if not chunk:
            raise ValueError("file shorter than its tensors")
        h.update(chunk)
        pos += len(chunk)
        left -= len(chunk)
    return h.digest()


def _catalogue(path: Path) -> Dict[Tuple, List[Initializer]]:
    """{(dtype, dims, content digest): initializers of `path`} for tensors worth sharing."""
    out: Dict[Tuple, List[Initializer]] = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        tensors = [t for t in read_initializers(buf) if t.length >= MIN_SHARED_BYTES]
        for t in tensors:
            out.setdefault((t.dtype, t.dims, _digest(f.fileno(), t)), []).append(t)
    return out


def _as_external(tensor: Initializer, location: str) -> bytes:
    """A TensorProto naming `tensor` and pointing at its raw_data in file `location`."""
    out = [field(_T_NAME, tensor.name.encode("utf-8"))]
    out += [encode_varint(_T_DIMS << 3) + encode_varint(d) for d in tensor.dims]
    out.append(encode_varint(_T_TYPE << 3) + encode_varint(tensor.dtype))
    for key, value in (("location", location), ("offset", str(tensor.offset)), ("length", str(tensor.length))):
        out.append(field(_T_EXTERNAL, field(1, key.encode()) + field(2, value.encode())))
    out.append(encode_varint(_T_LOCATION << 3) + encode_varint(1))
    return b"".join(out)


class SharedWeights:
    """Initializers common to several model files, as OrtValues over a read-only memory map.

    `per_file[i]` maps the initializer names of file i to the shared values; it is empty for
    every file when nothing could be shared. Keep this object alive as long as the sessions.
    """

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]
        self.per_file: List[Dict[str, object]] = [{} for _ in self.paths]
        self.shared_bytes = 0
        self._maps: List[mmap.mmap] = []
        self._values: List[object] = []  # onnxruntime does not own added initializers: keep them
        try:
            self._share()
        except (OSError, ValueError, UnicodeDecodeError, IndexError, RuntimeError) as exc:
            log.debug("not sharing weights between %s: %s", ", ".join(p.name for p in self.paths), exc)
            self.close()

    def _share(self) -> None:
        import onnxruntime as ort

        catalogues = [_catalogue(p) for p in self.paths]
        values: Dict[Tuple, object] = {}
        for key in catalogues[0]:
            holders = [i for i, c in enumerate(catalogues) if key in c]
            if len(holders) < 2:
                continue
            values[key] = ort.OrtValue.ortvalue_from_numpy(self._array(catalogues[0][key][0]))
            self._values.append(values[key])
            for i in holders:
                for tensor in catalogues[i][key]:
                    self.per_file[i][tensor.name] = values[key]
            self.shared_bytes += catalogues[0][key][0].length * (len(holders) - 1)
        log.debug("%.1f MB of weights shared between %s", self.shared_bytes / 1e6,
                  ", ".join(p.name for p in self.paths))

    def _array(self, tensor: Initializer) -> np.ndarray:
        if not self._maps:
            with open(self.paths[0], "rb") as f:
                self._maps.append(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        dtype = np.dtype(DTYPES[tensor.dtype])
        array = np.frombuffer(self._maps[0], dtype=dtype, count=tensor.length // dtype.itemsize,
                              offset=tensor.offset).reshape(tensor.dims)
        if tensor.offset % dtype.itemsize:
            array = array.copy()  # kernels may assume aligned elements; a private copy is still shared
        return array

    @property
    def active(self) -> bool:
        return self.shared_bytes > 0

    def apply(self, index: int, options, prepack: bool = False) -> object:
        """`options` (SessionOptions) for file `index` with its shared initializers added;
        unchanged when nothing is shared. Without `prepack` the session computes on the shared
        bytes themselves; with it, it keeps a re-laid-out private copy (faster, not shared)."""
        shared = self.per_file[index]
        if not shared:
            return options
        if not prepack:
            options.add_session_config_entry(DISABLE_PREPACKING, "1")
        for name, value in shared.items():
            options.add_initializer(name, value)
        return options

    def model_bytes(self, index: int) -> bytes:
        """File `index` without the bytes of its large initializers, for a session built with
        `apply`: onnxruntime gets the shared ones as values, reads the others itself, and never
        holds a parsed copy of them (it keeps the model bytes it was given for its lifetime).

        Each one becomes a reference to its own place in the original file (ONNX external data,
        relative to `external_data_folder(index)`), so the model still describes the same tensors.
        """
        path = self.paths[index]
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            view = memoryview(buf)
            try:
                # Slices of the map, joined once: intermediate copies of the kept tensors would
                # stay in Python's heap as fragmentation after the session is built.
                pieces: List[object] = []
                for number, wire, a, b, first in spans(buf, 0, len(buf)):
                    if number != _MODEL_GRAPH or wire != 2:
                        pieces.append(view[first:b])
                        continue
                    graph: List[object] = []
                    for n, w, ta, tb, tfirst in spans(buf, a, b):
                        tensor = parse_initializer(buf, ta, tb) if n == _GRAPH_INITIALIZER and w == 2 else None
                        if tensor is not None and tensor.length >= MIN_SHARED_BYTES:
                            graph.append(field(_GRAPH_INITIALIZER, _as_external(tensor, path.name)))
                        else:
                            graph.append(view[tfirst:tb])
                    size = sum(len(p) for p in graph)
                    pieces.append(encode_varint(_MODEL_GRAPH << 3 | 2) + encode_varint(size))
                    pieces.extend(graph)
                return b"".join(pieces)
            finally:
                pieces = graph = []
                view.release()

    def external_data_folder(self, index: int) -> str:
        return str(self.paths[index].parent)

    def close(self) -> None:
        """Give up sharing; only before any session was created with these values."""
        self.per_file = [{} for _ in self.paths]
        self.shared_bytes = 0
        self._values = []
        maps, self._maps = self._maps, []
        for buf in maps:
            try:
                buf.close()
            except BufferError:  # still exported to a numpy array; freed with it
                pass
