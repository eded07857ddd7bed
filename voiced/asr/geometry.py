"""How far each output frame of the Moonshine streaming (v2) encoder reaches into the audio.

The encoder has no positional embeddings. Its front end cuts the audio into frames of
``frame_ms`` (5 ms = 80 samples), normalises and projects each frame on its own, then runs two
causal 1-D convolutions (kernel 5, stride 2 each: transformers'
``MoonshineStreamingEncoderEmbedder``), so one encoder frame is 4 × 5 ms = 20 ms. Every
transformer layer then attends within a sliding window ``[left, right]`` given per layer in
``config.json``: in transformers' convention a query at frame q sees key frames
``q - left + 1 … q + right - 1`` (``left`` includes the frame itself, and ``right`` 4 means 3
frames of lookahead).

So an output frame depends on a bounded stretch of input: ``left_context`` frames before it
(the sum over layers of ``left - 1``, plus what the convolutions reach back) and ``lookahead``
frames after it (the sum of ``right - 1``). Those two numbers drive incremental encoding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

# (kernel, stride) of the encoder front end's causal convolutions. They are fixed by the
# architecture, not by config.json. The warm-up checks the resulting hop against the graph.
FRONT_END_CONVS: Tuple[Tuple[int, int], ...] = ((5, 2), (5, 2))

# Windows of the published `small` model, used when a model directory has no config.json
# (the INT8 export on Hugging Face ships only the ONNX files and the tokenizer).
SMALL_WINDOWS: Tuple[Tuple[int, int], ...] = ((16, 4), (16, 4)) + ((16, 0),) * 6 + ((16, 4), (16, 4))
DEFAULT_SAMPLE_RATE = 16000
DEFAULT_FRAME_MS = 5.0


@dataclass(frozen=True)
class EncoderGeometry:
    """Frame sizes and the receptive field of a streaming encoder, in samples and frames."""

    sample_rate: int
    frame_samples: int
    """samples per front-end frame (the input is zero-padded to a multiple of this)"""
    hop_samples: int
    """samples per encoder output frame (frame_samples × product of conv strides)"""
    conv_context: int
    """encoder frames before a frame that the causal convolutions read"""
    attention_context: int
    """encoder frames before a frame that the attention stack reads (sum of left - 1)"""
    lookahead: int
    """encoder frames after a frame that the attention stack reads (sum of right - 1)"""
    from_config: bool
    """False when the published `small` windows were assumed"""

    @property
    def left_context(self) -> int:
        """Encoder frames of left context that make a frame exact."""
        return self.conv_context + self.attention_context

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_samples

    def frames_for(self, samples: int) -> int:
        """Output frames the encoder gives for `samples` of input (after padding to frames)."""
        frames = -(-samples // self.frame_samples)
        for _, stride in FRONT_END_CONVS:
            frames = -(-frames // stride)
        return frames


def geometry_from_config(config: Dict[str, Any]) -> EncoderGeometry:
    """Geometry from a transformers MoonshineStreaming config.json (or the `small` defaults)."""
    enc = config.get("encoder_config") or {}
    windows: Sequence[Sequence[int]] = enc.get("sliding_windows") or SMALL_WINDOWS
    sample_rate = int(enc.get("sample_rate") or DEFAULT_SAMPLE_RATE)
    frame_ms = float(enc.get("frame_ms") or DEFAULT_FRAME_MS)
    frame_samples = int(round(sample_rate * frame_ms / 1000.0))
    stride = 1
    reach = 0  # front-end frames before the current one that the conv stack reads
    for kernel, conv_stride in reversed(FRONT_END_CONVS):
        reach = reach * conv_stride + (kernel - 1)
        stride *= conv_stride
    return EncoderGeometry(
        sample_rate=sample_rate,
        frame_samples=frame_samples,
        hop_samples=frame_samples * stride,
        conv_context=-(-reach // stride),
        attention_context=sum(max(int(left) - 1, 0) for left, _ in windows),
        lookahead=sum(max(int(right) - 1, 0) for _, right in windows),
        from_config=bool(enc.get("sliding_windows")),
    )


def describe(geometry: EncoderGeometry) -> List[str]:
    """Human-readable lines for logs and `voiced bench asr`."""
    ms = 1000.0 / geometry.frame_rate
    return [
        f"encoder frame {ms:.0f} ms, left context {geometry.left_context} frames "
        f"({geometry.left_context * ms / 1000:.2f} s), lookahead {geometry.lookahead} frames "
        f"({geometry.lookahead * ms:.0f} ms)" + ("" if geometry.from_config else " [published small windows assumed]"),
    ]
