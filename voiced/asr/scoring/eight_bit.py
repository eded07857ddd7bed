"""Base-en's decoder step with 8-bit weight products, as a session for scoring.

Transcribing keeps the float graph; scoring runs a hundred or so tokens per call, where the
weight products are nearly all of the time, so it gets a copy of the cached step that uses the
model's own 8-bit weights (voiced.asr.graphs.int8_step), and where the graph is laid out as the
Moonshine export, the token-tree step built from that copy (voiced.asr.graphs.tree_step). The
tree step is read from the graph by node names, so it is used only when it computes what the
8-bit step computes (tree_step.agrees). Building takes about 2 s for base-en on 2 x86 cores.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from voiced.asr.decoder import Decoder, DecoderGraph
from voiced.asr.graphs.int8_step import int8_cached_step
from voiced.asr.graphs.ort_format import as_onnx
from voiced.asr.graphs.tree_step import agrees, tree_step
from voiced.asr.sessions import make_session_options, session_from_bytes

log = logging.getLogger(__name__)


def eight_bit_step(decoder: Decoder) -> Optional[DecoderGraph]:
    """The token-tree step (`tree` true) when it builds and agrees with the 8-bit cached step,
    else that cached step; None when there is none to build: v2 graphs are 8-bit already, and
    a v1 graph laid out otherwise keeps its float products. Either comes out normalised
    (log-probabilities)."""
    files = decoder.files
    if files.layout != "v1":
        return None
    t0 = time.perf_counter()
    try:
        path = Path(files.decoder)
        model = int8_cached_step(as_onnx(path) if path.suffix == ".ort" else path.read_bytes())
        if model is None:
            log.info("%s: no 8-bit weights to score with; scoring with the float decoder step", path.name)
            return None
        graph = DecoderGraph(session_from_bytes(model, make_session_options(decoder.settings)), files.decoder,
                             normalized=True)
    except Exception as exc:  # onnxruntime's own error types, a malformed file
        log.warning("%s: cannot build the 8-bit decoder step (%s); scoring with the float step",
                    files.decoder, str(exc).splitlines()[0][:160])
        return None
    shape = graph.inputs[next(n for n in graph.past if ".decoder." in n)].shape
    heads, head_dim = (shape[1], shape[3]) if all(isinstance(d, int) for d in shape[1::2]) else (0, 0)
    tree = tree_step(model, heads, head_dim) if heads else None
    del model  # tens of MB: freed before the tree step's session is made
    if tree is None:
        log.info("%s: not laid out as the Moonshine export; scoring candidates as a batch", files.decoder)
    else:
        graph = _checked_tree(decoder, tree, graph, heads, head_dim) or graph
    log.debug("8-bit decoder step%s built in %.0f ms", " and token-tree step" if graph.tree else "",
              (time.perf_counter() - t0) * 1000.0)
    return graph


def _checked_tree(decoder: Decoder, tree: bytes, int8: DecoderGraph, heads: int,
                  head_dim: int) -> Optional[DecoderGraph]:
    """The token-tree step `tree` as a session, when it computes what the 8-bit step `int8` computes."""
    try:
        graph = DecoderGraph(session_from_bytes(tree, make_session_options(decoder.settings)), decoder.files.decoder,
                             normalized=True)
        same = agrees(graph.session, int8.session, heads, head_dim)
    except Exception as exc:  # onnxruntime's own error types: an older onnxruntime without these operators
        log.info("cannot run the token-tree step (%s); scoring candidates as a batch",
                 str(exc).splitlines()[0][:160])
        return None
    if not same:
        log.warning("%s: the token-tree step disagrees with the 8-bit step; scoring candidates as a batch",
                    decoder.files.decoder)
        return None
    return graph
