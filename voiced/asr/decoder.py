"""Greedy decoding with a key/value cache, for both decoder layouts.

* v1: one merged graph; ``use_cache_branch`` false on the first step (empty past), true later.
* v2: ``decoder_model`` for the first step, ``decoder_with_past_model`` for later steps. The
  weights the two graphs have in common are held once (voiced.asr.graphs.shared_weights).

The cache is passed as onnxruntime OrtValues through IOBinding: the outputs of one step are
bound as the inputs of the next without a round trip through numpy, and the cross-attention
(encoder) keys and values, computed once on the first step, stay bound for the whole utterance.
Which output feeds which past input is worked out from the graphs' own names.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from voiced.asr.graphs.names import BRANCH, INPUT_IDS, STATES, TREE_INPUTS
from voiced.asr.graphs.shared_weights import SharedWeights
from voiced.asr.models import ModelFiles
from voiced.asr.sessions import SessionSettings, create_session, make_session_options
from voiced.asr.tokenizer import BOS_ID, EOS_ID
from voiced.errors import ModelError

log = logging.getLogger(__name__)

_DATA_FOLDER = "session.model_external_initializers_file_folder_path"
_CROSS_MARKERS = (".encoder.", "_encoder_", "encoder_key", "encoder_value", "cross")


@dataclass
class DecodeResult:
    tokens: List[int] = field(default_factory=list)
    first_step_ms: float = 0.0
    later_steps_ms: float = 0.0
    logprobs: List[float] = field(default_factory=list)
    """per step, with `end_ids`: log P(token | audio, tokens before it)"""
    end_logprobs: List[float] = field(default_factory=list)
    """per step, with `end_ids`: log P(the sentence ends here), over all of `end_ids`"""

    def record(self, logits: np.ndarray, token: int, end_ids: Optional[np.ndarray]) -> None:
        """Append `token`, and with `end_ids` its log-probabilities from this step's `logits`."""
        self.tokens.append(token)
        if end_ids is None:
            return
        log_z = float(log_sum_exp(logits[None].copy())[0])  # a copy: `logits` is onnxruntime's buffer
        self.logprobs.append(float(logits[token]) - log_z)
        self.end_logprobs.append(float(log_sum_exp(logits[None, end_ids])[0]) - log_z)

    @property
    def ms_per_token(self) -> float:
        later = len(self.tokens) - 1
        return self.later_steps_ms / later if later > 0 else 0.0


def first_token(row: np.ndarray, never_empty: bool) -> int:
    """The greedy first token of `row` (logits or log-probabilities); with `never_empty`, the
    best other token when that is EOS."""
    token = int(np.argmax(row))
    if never_empty and token == EOS_ID:
        masked = row.copy()
        masked[EOS_ID] = -np.inf
        token = int(np.argmax(masked))
    return token


def past_candidates(output_name: str) -> List[str]:
    """Names a past input fed by `output_name` may carry, per the known exporters' conventions."""
    names = [output_name.replace("present", "past_key_values", 1),
             output_name.replace("present_", "past_", 1),
             output_name.replace("present", "past", 1)]
    names += [n + "_orig" for n in names] + [output_name + "_orig"]
    return [n for n in dict.fromkeys(names) if n != output_name or n.endswith("_orig")]


def map_cache(outputs: List[str], past_inputs: List[str], where: str) -> Dict[str, str]:
    """{past input name: output name that feeds it}; every past input must be fed."""
    wanted = set(past_inputs)
    mapping: Dict[str, str] = {}
    for out in outputs:
        for cand in past_candidates(out):
            if cand in wanted:
                mapping[cand] = out
                break
    missing = sorted(wanted - set(mapping))
    if missing:
        raise ModelError(f"{where}: no output feeds past input(s) {', '.join(missing[:4])}")
    return mapping


def log_sum_exp(rows: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) per row of a 2-D float32 array, computed in place (`rows` must be a
    scratch copy: a batch's logits are tens of MB, and a second temporary as large would double
    the time). float32 is enough: every term of the sum is in (0, 1] and there are ~32k of them."""
    peak = rows.max(axis=1)
    rows -= peak[:, None]
    np.exp(rows, out=rows)
    return np.log(rows.sum(axis=1)) + peak


def _is_cross(name: str) -> bool:
    return any(marker in name for marker in _CROSS_MARKERS)


class DecoderGraph:
    """One decoder session and the roles of its inputs."""

    def __init__(self, session, path, normalized: bool = False):
        self.session = session
        self.inputs = {i.name: i for i in session.get_inputs()}
        self.outputs = [o.name for o in session.get_outputs()]
        ids = [n for n in self.inputs if n.endswith(INPUT_IDS)]
        if not ids or not self.outputs:
            raise ModelError(f"{path}: not a Moonshine decoder (inputs: {', '.join(self.inputs)})")
        self.ids = ids[0]
        self.past = [n for n in self.inputs if n not in (self.ids, STATES, BRANCH) + TREE_INPUTS]
        self.normalized = normalized
        """the first output holds log-probabilities (log-softmax in the graph), not raw logits"""
        self.tree = all(n in self.inputs for n in TREE_INPUTS)
        """a token-tree step (voiced.asr.graphs.tree_step): one batch-1 row per tree node"""

    def empty_past(self, name: str) -> np.ndarray:
        """A zero-length past for the uncached branch of a merged graph: [1, heads, 0, head_dim]."""
        shape = self.inputs[name].shape
        dims = [d if isinstance(d, int) else 0 for d in shape]
        dims[0] = 1
        return np.zeros(dims, dtype=np.float32)


class Decoder:
    """Greedy decoder for one model; sessions are created once and reused."""

    def __init__(self, files: ModelFiles, settings: SessionSettings, share_weights: bool = True):
        import onnxruntime as ort

        self._ort = ort
        self.files, self.settings = files, settings
        # v2: the cached-step graph's weights are nearly all copies of the first-step graph's.
        self.shared = (SharedWeights([files.decoder, files.decoder_with_past])
                       if share_weights and files.layout == "v2" and files.decoder_with_past else None)
        first = DecoderGraph(self._session(files.decoder, settings, 0), files.decoder)
        if STATES not in first.inputs:
            raise ModelError(f"{files.decoder}: the first decoder step needs an {STATES} input")
        if files.layout == "v1":
            if BRANCH not in first.inputs:
                raise ModelError(f"{files.decoder}: merged decoder without a {BRANCH} input")
            later = first
        else:
            later = DecoderGraph(self._session(files.decoder_with_past, settings, 1), files.decoder_with_past)
        self.first, self.later = first, later
        # Which outputs of each step feed which past input of the next (cached) step.
        self._from_first = map_cache(first.outputs, later.past, str(files.decoder))
        self._from_later = {p: o for p, o in map_cache(later.outputs + first.outputs, later.past,
                                                       str(files.decoder_with_past or files.decoder)).items()
                            if o in later.outputs and not _is_cross(p)}
        # Past inputs the cached step does not update: the cross-attention cache, kept from step one.
        self._fixed = [p for p in later.past if p not in self._from_later]
        self._later_outputs = [o for o in later.outputs if o in self._from_later.values()]
        self._logits = first.outputs[0]
        self._last_first: Optional[Tuple[np.ndarray, Dict[str, object]]] = None
        log.debug("decoder cache: %d self-attention entries per step, %d kept from the first step",
                  len(self._from_later), len(self._fixed))

    def _session(self, path, settings: SessionSettings, index: int):
        if self.shared is None or not self.shared.active:
            return create_session(path, settings)
        try:
            # Pre-packing copies weights; worth it only for the cached step, which runs per token.
            options = self.shared.apply(index, make_session_options(settings), prepack=index == 1)
            options.add_session_config_entry(_DATA_FOLDER, self.shared.external_data_folder(index))
            return self._ort.InferenceSession(self.shared.model_bytes(index), options,
                                              providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own Fail/InvalidGraph types, or a file that changed
            log.debug("%s: loading with shared weights failed (%s); loading it alone", path, exc)
            return create_session(path, settings)

    def decode(self, states: np.ndarray, max_tokens: int, stop_at_eos: bool = True,
               never_empty: bool = False, end_ids: Optional[np.ndarray] = None) -> DecodeResult:
        """Greedy tokens (without BOS, with EOS when reached) for encoder `states`. With
        `never_empty`, an EOS as the very first token is replaced by the best other token. With
        `end_ids`, each step's log-probabilities are kept too (DecodeResult.record): they score
        the transcript for the rescorer at no extra decoder cost."""
        ort = self._ort
        result = DecodeResult()
        states_value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(states, dtype=np.float32))
        t0 = time.perf_counter()
        values = self._first_step(states_value)
        self._last_first = (states, values)
        logits = values[self._logits].numpy()[0, -1]
        token = first_token(logits, never_empty)
        result.record(logits, token, end_ids)
        result.first_step_ms = (time.perf_counter() - t0) * 1000.0
        eos = EOS_ID if stop_at_eos else -1
        if token == eos or max_tokens <= 1:
            return result
        binding = self.later.session.io_binding()
        if STATES in self.later.inputs:
            binding.bind_ortvalue_input(STATES, states_value)
        if BRANCH in self.later.inputs:
            binding.bind_cpu_input(BRANCH, np.array([True]))
        for name in self._fixed:
            binding.bind_ortvalue_input(name, values[self._from_first[name]])
        cache = {p: values[self._from_first[p]] for p in self._from_later}
        ids = np.zeros((1, 1), dtype=np.int64)
        t1 = time.perf_counter()
        while len(result.tokens) < max_tokens and token != eos:
            ids[0, 0] = token
            binding.bind_cpu_input(self.later.ids, ids)
            for past, value in cache.items():
                binding.bind_ortvalue_input(past, value)
            binding.clear_binding_outputs()
            binding.bind_output(self._logits)
            for out in self._later_outputs:
                binding.bind_output(out)
            self.later.session.run_with_iobinding(binding)
            got = dict(zip([self._logits] + self._later_outputs, binding.get_outputs()))
            logits = got[self._logits].numpy()[0, -1]
            token = int(np.argmax(logits))
            result.record(logits, token, end_ids)
            cache = {p: got[o] for p, o in self._from_later.items()}
        result.later_steps_ms = (time.perf_counter() - t1) * 1000.0
        return result

    def first_step(self, states: np.ndarray) -> Dict[str, object]:
        """The first step's outputs (logits, self- and cross-attention cache) for `states`. The
        last decode's are reused when it ran on this very array: rescoring the utterance just
        transcribed then costs no second pass over the encoder states."""
        if self._last_first is not None and self._last_first[0] is states:
            return self._last_first[1]
        value = self._ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(states, dtype=np.float32))
        values = self._first_step(value)
        self._last_first = (states, values)
        return values

    def cache_outputs(self) -> Dict[str, str]:
        """{past input of the cached step: first-step output that feeds it}"""
        return dict(self._from_first)

    def self_attention_outputs(self) -> Dict[str, str]:
        """{past input of the cached step: its own output that feeds it on the next step}: the
        self-attention cache, which grows by the tokens of each step."""
        return dict(self._from_later)

    def cross_attention_inputs(self) -> List[str]:
        """Past inputs of the cached step that hold the encoder's keys and values: computed on
        the first step and never updated, so every hypothesis of one utterance shares them."""
        return list(self._fixed)

    def _first_step(self, states_value) -> Dict[str, object]:
        graph = self.first
        binding = graph.session.io_binding()
        binding.bind_cpu_input(graph.ids, np.array([[BOS_ID]], dtype=np.int64))
        binding.bind_ortvalue_input(STATES, states_value)
        if BRANCH in graph.inputs:
            binding.bind_cpu_input(BRANCH, np.array([False]))
        for name in graph.past:
            binding.bind_cpu_input(name, graph.empty_past(name))
        wanted = [self._logits] + sorted(set(self._from_first.values()))
        for out in wanted:
            binding.bind_output(out)
        graph.session.run_with_iobinding(binding)
        return dict(zip(wanted, binding.get_outputs()))

    def warm(self, states: np.ndarray, steps: int = 4) -> None:
        """Run the first step and a few cached steps so onnxruntime allocates and plans them."""
        self.decode(states, max_tokens=steps, stop_at_eos=False)

    def budget(self, audio_s: float, tokens_per_second: float) -> int:
        return max(2, int(np.ceil(audio_s * tokens_per_second)))
