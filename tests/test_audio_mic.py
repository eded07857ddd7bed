"""MicSource against a PortAudio-like fake device playing real speech: format choice,
channel handling, resampling, overflow counting, and recovery from unplugs and stalls."""
from __future__ import annotations

import logging
from typing import List

import numpy as np
import pytest

from fake_portaudio import FakeDevice, FakePyAudioModule
from voiced.audio.mic import MicSource, list_input_devices
from voiced.audio.sources import open_source
from voiced.audio.wav import load_audio
from voiced.config import AudioConfig
from voiced.errors import AudioError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def speech(speech_dir) -> np.ndarray:
    """About 8 s of real speech at 16 kHz."""
    names = ["commands/stp_cancel_timer.wav", "commands/stp_set_kitchen_lights_to_green.wav",
             "sentences/librispeech_251-137823-0002.wav"]
    return np.concatenate([load_audio(speech_dir / n) for n in names])


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def _device(name, speech, rate=16000, channels=1, formats=None, **kw) -> FakeDevice:
    if rate != 16000:
        from scipy.signal import resample_poly  # test-side cross-check only

        sig = resample_poly(speech, rate // 1000, 16)
    else:
        sig = speech
    frames = np.repeat(_int16(sig)[:, None], channels, axis=1)
    return FakeDevice(name, frames, rate, formats or {(rate, channels)}, max_channels=channels, **kw)


def _config(**kw) -> AudioConfig:
    base = dict(source="mic", stall_timeout_s=0.3, reopen_backoff_max_s=0.4)
    base.update(kw)
    return AudioConfig(**base)


def _collect(source: MicSource, samples: int) -> np.ndarray:
    out: List[np.ndarray] = []
    got = 0
    for block in source.chunks():
        out.append(block)
        got += len(block)
        if got >= samples:
            source.stop()
    source.close()
    return np.concatenate(out)


def test_prefers_16k_mono_when_the_device_offers_it(speech):
    dev = _device("USB Mic", speech, formats={(48000, 2), (16000, 1), (48000, 1)})
    module = FakePyAudioModule([dev])
    source = MicSource(_config(), pyaudio_module=module)
    audio = _collect(source, 2 * 16000)
    assert module.opened == [("USB Mic", 16000, 1)]
    np.testing.assert_allclose(audio[:len(audio)], _int16(speech)[:len(audio)] / 32768.0, atol=1e-6)


def test_48k_stereo_device_is_downmixed_and_resampled_to_16k(speech):
    dev = _device("ReSpeaker 2-Mics HAT", speech, rate=48000, channels=2)
    module = FakePyAudioModule([dev])
    source = MicSource(_config(), pyaudio_module=module)
    audio = _collect(source, 6 * 16000)
    assert module.opened == [("ReSpeaker 2-Mics HAT", 48000, 2)]
    assert (source.capture_rate, source.capture_channels) == (48000, 2)
    n = 6 * 16000
    ref = speech[:n]
    err = audio[:n] - ref
    # 16k -> 48k (scipy) -> 16k (ours) keeps speech to within int16 and filter-edge error
    assert np.sqrt(np.mean(err ** 2)) < 0.01 * np.sqrt(np.mean(ref ** 2)) + 1e-3


def test_channel_setting_picks_one_channel(speech):
    dev = _device("Stereo Mic", speech, channels=2, formats={(16000, 2)})
    dev.signal[:, 0] = 0  # left is dead; only the right channel carries speech
    module = FakePyAudioModule([dev])
    source = MicSource(_config(channel=1), pyaudio_module=module)
    audio = _collect(source, 16000)
    np.testing.assert_allclose(audio, _int16(speech)[:len(audio)] / 32768.0, atol=1e-6)


def test_device_chosen_by_case_insensitive_name_substring(speech):
    devs = [_device("HDA Intel PCH: ALC3246 Analog (hw:0,0)", speech),
            _device("USB PnP Sound Device: Audio (hw:1,0)", speech)]
    module = FakePyAudioModule(devs)
    source = MicSource(_config(device="usb pnp"), pyaudio_module=module)
    _collect(source, 1000)
    assert module.opened[0][0] == "USB PnP Sound Device: Audio (hw:1,0)"


def test_unknown_device_names_the_devices_present(speech):
    module = FakePyAudioModule([_device("HDA Intel PCH", speech)])
    with pytest.raises(AudioError, match="no input device whose name contains 'seeed'.*HDA Intel PCH"):
        MicSource(_config(device="seeed"), pyaudio_module=module).open()


def test_no_supported_format_explains_what_to_set(speech):
    module = FakePyAudioModule([_device("Odd Mic", speech, rate=16000, formats={(11025, 1)})])
    with pytest.raises(AudioError, match="audio.sample_rate"):
        MicSource(_config(), pyaudio_module=module).open()


def test_a_driver_offering_only_absurd_formats_is_an_audio_error_not_a_huge_resampler():
    silence = np.zeros((1600, 1), np.int16)
    one_hz = FakeDevice("Broken Driver", silence, 1, {(1, 1)}, max_channels=1)  # default rate 1 Hz too
    many = FakeDevice("Pro Interface", np.zeros((1600, 64), np.int16), 16000, {(16000, 64)}, max_channels=64)
    for device in (one_hz, many):
        module = FakePyAudioModule([device])
        with pytest.raises(AudioError, match="supports none of rates"):
            MicSource(_config(), pyaudio_module=module).open()
        assert module.opened == []


def test_overflows_are_counted_and_logged(speech, caplog):
    dev = _device("USB Mic", speech, overflow_blocks={3, 10, 11})
    source = MicSource(_config(), pyaudio_module=FakePyAudioModule([dev]))
    with caplog.at_level(logging.WARNING, logger="voiced.audio.mic"):
        _collect(source, 20 * 512)
    assert source.overflows == 3
    assert any("overflowed" in r.getMessage() for r in caplog.records)


def test_device_that_disappears_and_returns_is_reopened(speech, caplog):
    dev = _device("USB Mic", speech, vanish_after=40, absent_s=0.5)
    module = FakePyAudioModule([dev])
    source = MicSource(_config(device="usb"), pyaudio_module=module, backoff_initial_s=0.1)
    with caplog.at_level(logging.WARNING, logger="voiced.audio.mic"):
        audio = _collect(source, 100 * 512)
    assert source.reopens == 1
    assert len(module.opened) == 2  # opened again after it came back
    assert any("unavailable" in r.getMessage() for r in caplog.records)  # at least one failed retry
    # The audio continues with what the device delivered after it came back.
    np.testing.assert_allclose(audio, _int16(speech)[:len(audio)] / 32768.0, atol=1e-6)


def test_stalled_capture_is_reopened(speech):
    dev = _device("USB Mic", speech, stall_after=20)
    module = FakePyAudioModule([dev])
    source = MicSource(_config(stall_timeout_s=0.3), pyaudio_module=module)
    audio = _collect(source, 60 * 512)
    assert source.reopens == 1 and len(module.opened) == 2
    assert len(audio) >= 60 * 512


def test_stop_ends_a_source_that_waits_for_a_device(speech):
    import threading

    dev = _device("USB Mic", speech)
    dev.gone_until = float("inf")  # never plugged in
    source = MicSource(_config(), pyaudio_module=FakePyAudioModule([dev]), backoff_initial_s=0.05)
    threading.Timer(0.3, source.stop).start()
    assert list(source.chunks()) == []


def test_open_source_builds_a_mic_source_and_devices_are_listed(speech):
    module = FakePyAudioModule([_device("USB Mic", speech, rate=48000, formats={(48000, 1), (44100, 1)}, channels=1)])
    source = open_source(_config(), pyaudio_module=module)
    assert isinstance(source, MicSource)
    pa = module.PyAudio()
    devices = list_input_devices(pa, module)
    assert [(d.name, d.channels, d.rates) for d in devices] == [("USB Mic", 1, (48000, 44100))]
