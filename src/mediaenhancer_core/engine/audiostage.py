"""The Python part of the audio path: neural denoising, levelling and compression, streamed.

The render pass's ffmpeg decodes the input once and runs the plan's ffmpeg filters
(de-clip, rumble high-pass, hum notches); its audio comes out as 48 kHz float PCM
through a pipe. :class:`AudioStage` reads that stream in pieces, runs the plan's
Python steps in order (``deepfilternet``, ``leveler``, ``compressor``), and hands
the result to a second ffmpeg through its standard input, which measures it with
``ebur128`` and writes the float intermediate the mux step takes (where the exact
loudness gain is applied, as for every other render). Nothing is held whole: memory
stays flat however long the input, and every stage keeps the samples aligned
(no delay, the same number of samples out as in).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mediaenhancer_core.engine.filters import is_python_step
from mediaenhancer_core.engine.plan import FilterStep
from mediaenhancer_core.errors import CancelledError, RenderError

__all__ = ["AudioStage", "StageReport", "RATE", "python_steps", "ffmpeg_steps"]

RATE = 48000
READ_BYTES = 1 << 18  # 256 KiB pieces of the decoded stream


def python_steps(steps: list[FilterStep]) -> list[FilterStep]:
    """The steps this stage runs: those the filter registry marks as Python stages (no ffmpeg filter)."""
    return [s for s in steps if is_python_step(s.filter)]


def ffmpeg_steps(steps: list[FilterStep]) -> list[FilterStep]:
    return [s for s in steps if not is_python_step(s.filter)]


@dataclass
class StageReport:
    samples: int = 0
    denoise_mean_lsnr_db: float | None = None  # the model's own estimate of the speech-to-noise ratio
    leveler_gain_range_db: tuple[float, float] | None = None
    compressor_max_db: float | None = None
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "denoise_mean_lsnr_db": self.denoise_mean_lsnr_db,
            "leveler_gain_range_db": list(self.leveler_gain_range_db) if self.leveler_gain_range_db else None,
            "compressor_max_reduction_db": self.compressor_max_db,
            "steps": self.steps,
        }


class AudioStage:
    """Reads float32 PCM (``channels`` interleaved, 48 kHz) with :meth:`read`, writes the processed
    PCM with :meth:`write`; the two run in the threads of two ffmpeg processes."""

    def __init__(self, steps: list[FilterStep], channels: int, *, workers: int = 2) -> None:
        import numpy as np  # noqa: PLC0415

        self.np = np
        self.channels = channels
        self.stages: list[tuple[str, Any]] = []
        for s in steps:
            p = s.params
            if s.filter == "deepfilternet":
                from mediaenhancer_core.engine.denoiser import NeuralDenoiser  # noqa: PLC0415

                self.stages.append(
                    (s.filter, NeuralDenoiser(channels, float(p.get("atten_lim_db", 100.0)), workers=workers))
                )
            elif s.filter == "leveler":
                from mediaenhancer_core.engine.leveler import Leveler  # noqa: PLC0415

                self.stages.append(
                    (
                        s.filter,
                        Leveler(
                            channels,
                            reference_lufs=float(p.get("reference_lufs", -23.0)),
                            strength=float(p.get("strength", 1.0)),
                            max_boost_db=float(p.get("max_boost_db", 12.0)),
                            max_cut_db=float(p.get("max_cut_db", 12.0)),
                        ),
                    )
                )
            elif s.filter == "compressor":
                from mediaenhancer_core.engine.leveler import Compressor  # noqa: PLC0415

                self.stages.append(
                    (
                        s.filter,
                        Compressor(
                            channels,
                            threshold_dbfs=float(p.get("threshold_dbfs", -20.0)),
                            ratio=float(p.get("ratio", 2.0)),
                            release_ms=float(p.get("release_ms", 150.0)),
                        ),
                    )
                )
            else:  # pragma: no cover - plan validation keeps other names out
                raise RenderError(f"unknown audio stage {s.filter!r}")
        self.out: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self.stop = threading.Event()
        self.report = StageReport(steps=[name for name, _ in self.stages])

    def _through(self, x: Any, final: bool) -> Any:
        for _, st in self.stages:
            if final:
                head = st.process(x) if len(x) else x[:0]
                x = self.np.concatenate([head, st.flush()])
            else:
                x = st.process(x)
        return x

    def _put(self, item: bytes | None) -> None:
        while True:
            if self.stop.is_set():
                raise CancelledError("audio stage stopped")
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def read(self, stream: BinaryIO, on_samples: Callable[[int], None] | None = None) -> None:
        """Consume the decoded stream (called in the render ffmpeg's pipe thread)."""
        np = self.np
        frame = 4 * self.channels
        rest = b""
        try:
            while True:
                chunk = stream.read(READ_BYTES)
                if not chunk:
                    break
                data = rest + chunk
                usable = len(data) // frame * frame
                rest = data[usable:]
                if not usable:
                    continue
                x = np.frombuffer(data[:usable], np.float32).reshape(-1, self.channels)
                self.report.samples += len(x)
                y = self._through(x, final=False)
                if len(y):
                    self._put(np.ascontiguousarray(y, dtype=np.float32).tobytes())
                if on_samples:
                    on_samples(self.report.samples)
            y = self._through(np.zeros((0, self.channels), np.float32), final=True)
            if len(y):
                self._put(np.ascontiguousarray(y, dtype=np.float32).tobytes())
            self._summarise()
        finally:
            for _, st in self.stages:
                close = getattr(st, "close", None)
                if close:
                    close()
            if not self.stop.is_set():
                self._put(None)

    def write(self, stream: BinaryIO) -> None:
        """Feed the processed stream to the measuring ffmpeg (called in its stdin thread)."""
        while True:
            try:
                item = self.out.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if item is None:
                return
            stream.write(item)

    def abort(self) -> None:
        self.stop.set()

    def _summarise(self) -> None:
        for name, st in self.stages:
            if name == "deepfilternet" and st.mean_lsnr is not None:
                self.report.denoise_mean_lsnr_db = round(st.mean_lsnr, 1)
            elif name == "leveler" and st.gains_applied:
                self.report.leveler_gain_range_db = (round(min(st.gains_applied), 1), round(max(st.gains_applied), 1))
            elif name == "compressor":
                self.report.compressor_max_db = round(st.max_reduction, 1)
