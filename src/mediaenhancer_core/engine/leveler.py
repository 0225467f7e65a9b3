"""Speech leveler and gentle compressor: the dynamics half of the Python audio stage.

:class:`Leveler` brings speech segments to one level: two people recorded 10 dB apart
end up within a couple of LU. Every 100 ms block gets its K-weighted power (BS.1770,
computed in the frequency domain) and a speech flag (Silero VAD on a 16 kHz copy).
A speech block's gain is the distance from the reference level to the loudness of the
speech blocks in the 3 s before or the 3 s after it, whichever is steadier (so the gain
moves where one voice hands over to another), less a 1 dB dead band (so a voice's own
rise and fall stays),
scaled by the preset's strength and clamped; pauses
shorter than a second keep the gain of the speech around them, longer ones (and noise)
are never raised above 0 dB or above the speech beside them. The gain curve is
smoothed without phase (a Hann window of +-0.5 s) and interpolated per sample; the
leveler looks 4 s ahead, so the gain is already right when a quieter speaker starts.

:class:`Compressor` then lowers the peaks that stand far above the speech level (a
lookahead peak compressor on a 1 ms grid, soft knee), so that the final true-peak
limiter of the mux step has little left to do.

Both are streams: ``process`` returns what is ready, ``flush`` the rest; the output has
exactly as many samples as the input, aligned.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Leveler", "Compressor", "k_weights"]

RATE = 48000
BLOCK = 4800  # 100 ms
LOOKAHEAD_BLOCKS = 40  # 4 s
LEVEL_HALF = 30  # +-3 s of speech blocks for the local speech level
DEADBAND_DB = 1.0  # a speech stretch this close to the reference is left alone (speech's own life stays)
SMOOTH_HALF = 5  # +-0.5 s Hann smoothing of the gain
HOLD_BLOCKS = 10  # pauses up to 1 s keep the speech gain around them

# ITU-R BS.1770 K-weighting at 48 kHz: high shelf, then the RLB high-pass
_K1 = ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585))
_K2 = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))


def k_weights(n: int) -> Any:
    """|H(f)|^2 of the K-weighting filter at the rfft bins of an n-point block (48 kHz)."""
    import numpy as np  # noqa: PLC0415

    w = 2 * np.pi * np.arange(n // 2 + 1) / n
    z = np.exp(-1j * w)
    h = np.ones_like(z)
    for (b0, b1, b2), (_, a1, a2) in (_K1, _K2):
        h *= (b0 + b1 * z + b2 * z * z) / (1 + a1 * z + a2 * z * z)
    weights = np.abs(h) ** 2
    weights[1:-1] *= 2.0  # one-sided spectrum
    return weights.astype(np.float64)


class _Decimator:
    """48 kHz -> 16 kHz for the VAD: windowed-sinc low-pass (7 kHz) and every third sample."""

    def __init__(self) -> None:
        import numpy as np  # noqa: PLC0415

        self.np = np
        taps = 63
        n = np.arange(taps) - (taps - 1) / 2
        fc = 7000 / RATE
        h = 2 * fc * np.sinc(2 * fc * n) * np.hamming(taps)
        self.h = (h / h.sum()).astype(np.float32)
        self.hist = np.zeros(taps - 1, np.float32)
        self.phase = 0

    def __call__(self, x: Any) -> Any:
        np = self.np
        buf = np.concatenate([self.hist, x])
        y = np.convolve(buf, self.h, mode="valid")
        self.hist = buf[len(buf) - (len(self.h) - 1) :]
        out = y[self.phase :: 3]
        self.phase = (self.phase - len(y)) % 3
        return out


class Leveler:
    """Speech levelling; ``reference_lufs`` is the level speech is brought towards (the overall
    loudness is set exactly afterwards), ``strength`` 0..1 how much of each correction is made."""

    def __init__(
        self, channels: int, *, reference_lufs: float, strength: float, max_boost_db: float, max_cut_db: float
    ) -> None:
        import numpy as np  # noqa: PLC0415

        from mediaenhancer_core.engine.speech import WINDOW, Vad  # noqa: PLC0415

        self.np = np
        self.channels = channels
        self.ref = reference_lufs
        self.strength = max(0.0, min(1.0, strength))
        self.max_boost = max_boost_db
        self.max_cut = max_cut_db
        self.weights = k_weights(BLOCK)
        self.vad = Vad()
        self.vad_window = WINDOW
        self.decimate = _Decimator()
        self.pending = np.zeros((0, channels), np.float32)  # samples not yet in a full block
        self.blocks: list[Any] = []  # audio of blocks not yet output
        self.power: list[float] = []  # K-weighted mean square per block (whole stream; 8 bytes a block)
        self.flags: list[bool] = []  # speech or not, per block
        self.speech_gain: dict[int, float] = {}  # settled gains of speech blocks
        self.first_block = 0  # stream index of self.blocks[0]
        self.prev_gain_db = 0.0  # gain at the centre of the last block output
        self.samples_in = 0
        self.gains_applied: list[float] = []  # for the report: gain of each output block (dB)

    # -- analysis
    def _update_flags(self) -> None:
        """Speech flag of every block whose VAD windows (32 ms) are all known: any window >= 0.5."""
        probs = self.vad.probs
        while len(self.flags) < len(self.power):
            b = len(self.flags)
            a0 = int(b * BLOCK / 3 // self.vad_window)
            a1 = int(math.ceil((b + 1) * BLOCK / 3 / self.vad_window))
            if a1 > len(probs):
                break
            window = probs[a0:a1]
            self.flags.append(bool(window) and max(window) >= 0.5)

    def _add_blocks(self, x: Any) -> None:
        np = self.np
        buf = np.concatenate([self.pending, x]) if len(self.pending) else x
        n = len(buf) // BLOCK
        mono = buf.mean(axis=1) if self.channels > 1 else buf[:, 0]
        self.vad.feed(self.decimate(mono[: n * BLOCK] if n else mono[:0]))
        if n:
            blocks = buf[: n * BLOCK].reshape(n, BLOCK, self.channels)
            spec = np.abs(np.fft.rfft(blocks, axis=1)) ** 2  # [n, F, C]
            ms = (self.weights[None, :, None] * spec).sum(axis=(1, 2)) / (BLOCK * BLOCK)
            self.power.extend(float(v) for v in ms)
            self.blocks.extend(blocks[i] for i in range(n))
        self.pending = buf[n * BLOCK :]
        self._update_flags()

    def _gains(self, lo: int, hi: int, final: bool) -> tuple[Any, Any]:
        """Raw gains (dB) of blocks [lo, hi) and, per block, a cap for long pauses (inf elsewhere)."""
        np = self.np
        n = len(self.flags)
        a, b = max(0, lo - LEVEL_HALF), min(n, hi + LEVEL_HALF + 1)
        p = np.asarray(self.power[a:b])
        sp = np.asarray(self.flags[a:b], bool)
        lv = 10 * np.log10(np.maximum(p, 1e-12))
        cs = np.concatenate([[0.0], np.cumsum(np.where(sp, p, 0.0))])
        cd = np.concatenate([[0.0], np.cumsum(np.where(sp, lv, 0.0))])
        cd2 = np.concatenate([[0.0], np.cumsum(np.where(sp, lv * lv, 0.0))])
        cn = np.concatenate([[0], np.cumsum(sp)])

        def window(u: int, v: int) -> tuple[float, float] | None:
            """(loudness, spread in dB) of the speech blocks in [u, v) (local indices)."""
            count = cn[v] - cn[u]
            if count < 5:
                return None
            mean = (cd[v] - cd[u]) / count
            var = max(0.0, (cd2[v] - cd2[u]) / count - mean * mean)
            return -0.691 + 10 * math.log10(max(1e-12, (cs[v] - cs[u]) / count)), math.sqrt(var)

        def speech_gain(j: int) -> float:
            """Gain of speech block j (global index)."""
            if j in self.speech_gain:
                return self.speech_gain[j]
            k = j - a
            # the stretch before and the stretch after: the steadier one is this voice's level, so the gain
            # changes where one speaker hands over to another, not seconds before or after
            left = window(max(0, k - LEVEL_HALF), k + 1)
            right = window(k, min(len(sp), k + LEVEL_HALF + 1))
            both = [w for w in (left, right) if w is not None]
            g = 0.0
            if both:
                level = min(both, key=lambda w: w[1])[0]
                if level >= -70.0:
                    d = self.ref - level
                    g = math.copysign(max(0.0, abs(d) - DEADBAND_DB), d) * self.strength
                    g = max(-self.max_cut, min(self.max_boost, g))
            if j + LEVEL_HALF < n or final:  # its windows are complete: keep it
                self.speech_gain[j] = g
            return g

        raw = np.zeros(hi - lo)
        cap = np.full(hi - lo, np.inf)
        flags = self.flags
        j = lo
        while j < hi:
            if flags[j]:
                raw[j - lo] = speech_gain(j)
                j += 1
                continue
            # a pause: find where it started and ends (as far as known)
            s0 = j
            while s0 > 0 and not flags[s0 - 1]:
                s0 -= 1
            e0 = j
            while e0 < n and not flags[e0]:
                e0 += 1
            before = speech_gain(s0 - 1) if s0 > 0 else None
            after = speech_gain(e0) if e0 < n else None
            around = [g for g in (before, after) if g is not None]
            ended = e0 < n
            short = e0 - s0 <= HOLD_BLOCKS and ended
            for i in range(j, min(e0, hi)):
                if short and around:  # short pauses: linear between the speech on both sides
                    f = (i - s0 + 1) / (e0 - s0 + 1)
                    g0 = before if before is not None else after
                    g1 = after if after is not None else before
                    raw[i - lo] = g0 * (1 - f) + g1 * f  # type: ignore[operator]
                else:  # long pauses and noise are never raised: not above 0 dB or the speech beside them
                    hold = min([0.0, *around])
                    raw[i - lo] = hold
                    # the smoothed gain may not carry the speech's gain into the pause: within two blocks
                    # (200 ms) of the speech it ramps to the hold value
                    d = min(i - s0 + 1, (e0 - i) if ended else 10**9)
                    edge = before if (i - s0 + 1) <= ((e0 - i) if ended else 10**9) else after
                    edge = hold if edge is None else max(hold, edge)
                    cap[i - lo] = hold + (edge - hold) * max(0.0, 1.0 - d / 2.0)
            j = min(e0, hi)
        return raw, cap

    # -- output
    def _emit(self, final: bool) -> Any:
        np = self.np
        known = len(self.flags)
        ready = known if final else known - LOOKAHEAD_BLOCKS
        start = self.first_block
        if ready <= start:
            return np.zeros((0, self.channels), np.float32)
        lo, hi = max(0, start - SMOOTH_HALF), min(known, ready + SMOOTH_HALF)
        raw, cap = self._gains(lo, hi, final)
        win = np.hanning(2 * SMOOTH_HALF + 3)[1:-1]
        out = []
        for b in range(start, ready):
            a0, a1 = max(lo, b - SMOOTH_HALF), min(hi, b + SMOOTH_HALF + 1)
            w = win[a0 - (b - SMOOTH_HALF) : len(win) - ((b + SMOOTH_HALF + 1) - a1)]
            g = float(np.dot(w, raw[a0 - lo : a1 - lo]) / w.sum())
            g = min(g, float(cap[b - lo]))
            # per-sample gain: linear from the previous block's centre to this one's
            ramp = np.linspace(self.prev_gain_db, g, BLOCK, endpoint=False, dtype=np.float32)
            out.append(self.blocks[b - self.first_block] * (10.0 ** (ramp / 20.0))[:, None])
            self.prev_gain_db = g
            self.gains_applied.append(g)
        del self.blocks[: ready - self.first_block]
        self.first_block = ready
        # gains of speech blocks long gone are not needed again
        for k in [k for k in self.speech_gain if k < start - 4 * LEVEL_HALF]:
            del self.speech_gain[k]
        return np.concatenate(out)

    def process(self, x: Any) -> Any:
        np = self.np
        x = np.asarray(x, np.float32).reshape(-1, self.channels)
        self.samples_in += len(x)
        self._add_blocks(x)
        return self._emit(final=False)

    def flush(self) -> Any:
        np = self.np
        tail = len(self.pending)
        if tail:
            self._add_blocks(np.zeros((BLOCK - tail, self.channels), np.float32))
        self.vad.feed(np.zeros(self.vad_window, np.float32))  # completes the last VAD window
        self._update_flags()
        while len(self.flags) < len(self.power):
            self.flags.append(False)
        out = self._emit(final=True)
        emitted_before = len(self.gains_applied) * BLOCK - len(out)
        return out[: max(0, self.samples_in - emitted_before)]


class Compressor:
    """Lookahead peak compressor on a 1 ms grid: above ``threshold_dbfs`` the level rises
    ``ratio`` times slower (6 dB soft knee); attack within the 2 ms lookahead, release
    ``release_ms``. The detector looks at every channel (the gain is shared)."""

    HOP = 48  # 1 ms
    AHEAD = 2  # hops of lookahead

    def __init__(
        self, channels: int, *, threshold_dbfs: float, ratio: float, release_ms: float = 150.0, knee_db: float = 6.0
    ) -> None:
        import numpy as np  # noqa: PLC0415

        self.np = np
        self.channels = channels
        self.thr = threshold_dbfs
        self.slope = 1.0 - 1.0 / max(1.0, ratio)
        self.knee = knee_db
        self.release = 1.0 - math.exp(-1.0 / release_ms)  # per 1 ms hop, towards the target
        self.pending = np.zeros((0, channels), np.float32)
        self.delay = np.zeros((self.AHEAD * self.HOP, channels), np.float32)  # audio waiting for its lookahead
        self.env_hist = np.zeros(self.AHEAD, np.float32)
        self.g = 0.0  # current gain reduction (dB, <= 0)
        self.prev = 0.0
        self.samples_in = 0
        self.synth = 0
        self.emitted = 0
        self.max_reduction = 0.0

    def _curve(self, level_db: Any) -> Any:
        np = self.np
        over = level_db - self.thr
        half = self.knee / 2
        red = np.where(
            over <= -half,
            0.0,
            np.where(over >= half, over * self.slope, self.slope * (over + half) ** 2 / (2 * self.knee)),
        )
        return -red

    def _run(self, x: Any) -> Any:
        """x: whole hops. Returns the same number of samples, delayed by the lookahead."""
        np = self.np
        hops = len(x) // self.HOP
        peaks = np.abs(x).reshape(hops, self.HOP, self.channels).max(axis=(1, 2))
        env = np.concatenate([self.env_hist, peaks])
        # each hop's detector sees its own peak and the next AHEAD hops' (the audio is delayed to match)
        look = (
            np.max(np.stack([env[i : i + hops] for i in range(self.AHEAD + 1)]), axis=0)
            if len(env) >= hops + self.AHEAD
            else peaks
        )
        self.env_hist = env[len(env) - self.AHEAD :]
        target = self._curve(20 * np.log10(np.maximum(look, 1e-9)))
        gains = np.empty(hops, np.float64)
        g = self.g
        rel = self.release
        for i in range(hops):
            t = target[i]
            g = t if t < g else g + (t - g) * rel
            gains[i] = g
        self.g = g
        if hops:
            self.max_reduction = min(self.max_reduction, float(gains.min()))
        # per-sample gain, linear between hop starts; audio delayed by AHEAD hops
        starts = np.concatenate([[self.prev], gains[:-1]]) if hops else gains
        ramp = (starts[:, None] + (gains - starts)[:, None] * (np.arange(self.HOP) / self.HOP)[None, :]).reshape(-1)
        if hops:
            self.prev = float(gains[-1])
        audio = np.concatenate([self.delay, x])
        out = audio[: hops * self.HOP] * (10.0 ** (ramp / 20.0)).astype(np.float32)[:, None]
        self.delay = audio[hops * self.HOP :]
        return out

    def _take(self, x: Any) -> Any:
        np = self.np
        buf = np.concatenate([self.pending, x]) if len(self.pending) else x
        whole = len(buf) // self.HOP * self.HOP
        self.pending = buf[whole:]
        out = self._run(buf[:whole])
        skip = max(0, self.AHEAD * self.HOP - self.synth)  # the lookahead's initial silence
        self.synth += len(out)
        return out[skip:]

    def process(self, x: Any) -> Any:
        np = self.np
        x = np.asarray(x, np.float32).reshape(-1, self.channels)
        self.samples_in += len(x)
        out = self._take(x)
        self.emitted += len(out)
        return out

    def flush(self) -> Any:
        np = self.np
        pad = (-len(self.pending)) % self.HOP + (self.AHEAD + 1) * self.HOP
        out = self._take(np.zeros((pad, self.channels), np.float32))
        out = out[: max(0, self.samples_in - self.emitted)]
        self.emitted += len(out)
        return out
