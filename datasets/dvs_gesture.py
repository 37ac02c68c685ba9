"""DVS128 Gesture (Amir et al. 2017, the paper's ref. [32]) from the official DvsGesture.tar.gz layout.

Official layout (the extracted ``DvsGesture/`` folder): ``trials_to_train.txt``
and ``trials_to_test.txt`` (one ``userXX_lighting.aedat`` name per line), the
AEDAT 3.1 recordings ``userXX_lighting.aedat`` and, next to each, its
``userXX_lighting_labels.csv`` with the header ``class,startTime_usec,endTime_usec``
and one row per gesture (class 1..11, times in microseconds on the recording's
clock).

AEDAT 3.1 (iniVation's format, as written by libcaer/cAER): an ASCII header of
lines starting with ``#`` (first ``#!AER-DAT3.1``, last ``#!END-HEADER``), then
packets.  Each packet starts with a 28-byte little-endian header (libcaer
``include/libcaer/events/common.h``, ``struct caer_event_packet_header``;
``CAER_EVENT_PACKET_HEADER_SIZE 28``)::

    int16 eventType   int16 eventSource   int32 eventSize   int32 eventTSOffset
    int32 eventTSOverflow   int32 eventCapacity   int32 eventNumber   int32 eventValid

followed by ``eventCapacity * eventSize`` bytes of events.  Polarity events
(``eventType == 1``, ``POLARITY_EVENT``) are 8 bytes (libcaer
``include/libcaer/events/polarity.h``, ``struct caer_polarity_event``):
``uint32 data`` then ``int32 timestamp`` (microseconds); in ``data`` bit 0 is
the valid mark (``VALID_MARK_SHIFT 0``), bit 1 the polarity
(``POLARITY_SHIFT 1``, 1 = ON), bits 2-16 the y address (``POLARITY_Y_ADDR_SHIFT 2``,
mask 0x7FFF) and bits 17-31 the x address (``POLARITY_X_ADDR_SHIFT 17``, mask
0x7FFF).  The full timestamp is ``(eventTSOverflow << 31) | timestamp``
(``TS_OVERFLOW_SHIFT 31``).  Packets of other types are skipped.

Preprocessing as the paper's section 4.1: events dropped with probability
0.5, 128x128 downsampled to 32x32 (4x4 pixel blocks summed), a random 1 s
crop, binned at dt into ``(time, 2, 32, 32)`` per sample.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from fluctinit.errors import Integer, Interval, check, check_all

from ._paths import input_root
from .spikes import DataError, SpikeDataset, n_steps_for

__all__ = [
    "DVS_SENSOR_SIZE",
    "DVS_N_CLASSES",
    "DVS_TRIAL_LISTS",
    "read_aedat31",
    "read_gesture_labels",
    "DvsGestureDataset",
    "DvsGestureSplits",
    "load_dvs_gesture",
    "downsampled_unit",
]

DVS_URL = "https://research.ibm.com/interactive/dvsgesture/"
DVS_SENSOR_SIZE = 128
DVS_N_CLASSES = 11
DVS_TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
_HEADER = struct.Struct("<hhiiiiii")  # 28 bytes
_POLARITY_EVENT = 1
_POLARITY_DTYPE = np.dtype([("data", "<u4"), ("ts", "<i4")])
_MAX_US = (1 << 62) - 1  # label times beyond this cannot be recording times (int64 arithmetic)

DVS_CONSTRAINTS = {
    "factor": Integer(low=1, high=DVS_SENSOR_SIZE),
    "batch_size": Integer(low=1),
    "dt": Interval(0.0, None, closed="neither"),
    "crop": Interval(0.0, None, closed="neither"),
    "drop_prob": Interval(0.0, 1.0, closed="both"),
}


def read_aedat31(path: str | os.PathLike, *, sensor_size: int = DVS_SENSOR_SIZE) -> dict[str, np.ndarray]:
    """Read the polarity events of an AEDAT 3.1 file (layout in the module docstring).

    Invalid events (valid mark 0) are skipped.  Timestamps are integers (microseconds), so
    they are never NaN or inf; a negative one is a malformed file.

    Returns:
        dict of equal-length arrays: ``t`` (int64, microseconds), ``x``, ``y``
        (int16, in ``[0, sensor_size)``), ``p`` (int8, 1 = ON, 0 = OFF).

    Raises:
        FileNotFoundError: no such file.
        DataError: bad header, truncated packet, wrong polarity event size, a negative
            timestamp or overflow counter, or addresses outside the sensor, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = path.read_bytes()

    def fail(problem: str) -> DataError:
        return DataError(f"{path}: {problem}")

    if not raw.startswith(b"#!AER-DAT3.1"):
        raise fail("not an AEDAT 3.1 file (the first line must be '#!AER-DAT3.1')")
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise fail("header not terminated by a '#!END-HEADER' line")
        line = raw[pos:end].rstrip(b"\r")
        pos = end + 1
        if not line.startswith(b"#"):
            raise fail(f"header line without '#': {line[:40]!r}")
        if line == b"#!END-HEADER":
            break
    ts, data = [], []
    n_bytes = len(raw)
    while pos < n_bytes:
        if pos + _HEADER.size > n_bytes:
            raise fail(f"truncated packet header at byte {pos}")
        (etype, _source, esize, ts_off, overflow, capacity, number,
         _valid) = _HEADER.unpack_from(raw, pos)
        pos += _HEADER.size
        if esize <= 0 or capacity < 0 or number < 0 or number > capacity or overflow < 0:
            raise fail(f"bad packet header at byte {pos - _HEADER.size} (eventSize={esize}, "
                       f"eventCapacity={capacity}, eventNumber={number}, eventTSOverflow={overflow})")
        body = esize * capacity
        if pos + body > n_bytes:
            raise fail(f"truncated packet at byte {pos - _HEADER.size}: needs {body} bytes, "
                       f"{n_bytes - pos} left")
        if etype == _POLARITY_EVENT:
            if esize != 8 or ts_off != 4:
                raise fail(f"polarity events must be 8 bytes with the timestamp at offset 4; "
                           f"got eventSize={esize}, eventTSOffset={ts_off}")
            ev = np.frombuffer(raw, dtype=_POLARITY_DTYPE, count=number, offset=pos)
            ok = (ev["data"] & 1).astype(bool)
            if ok.any() and int(ev["ts"][ok].min()) < 0:
                raise fail(f"negative timestamp {int(ev['ts'][ok].min())} in the packet at byte "
                           f"{pos - _HEADER.size} (timestamps are 31-bit, >= 0)")
            data.append(ev["data"][ok])
            ts.append((np.int64(overflow) << 31) | ev["ts"][ok].astype(np.int64))
        pos += body
    d = np.concatenate(data) if data else np.zeros(0, np.uint32)
    t = np.concatenate(ts) if ts else np.zeros(0, np.int64)
    x = ((d >> 17) & 0x7FFF).astype(np.int16)
    y = ((d >> 2) & 0x7FFF).astype(np.int16)
    p = ((d >> 1) & 1).astype(np.int8)
    if d.size and (x.max() >= sensor_size or y.max() >= sensor_size):
        raise fail(f"addresses outside the {sensor_size}x{sensor_size} sensor "
                   f"(max x={int(x.max())}, max y={int(y.max())})")
    return {"t": t, "x": x, "y": y, "p": p}


def read_gesture_labels(path: str | os.PathLike, *, n_classes: int = DVS_N_CLASSES) -> np.ndarray:
    """Read a ``*_labels.csv``: rows ``class,startTime_usec,endTime_usec``.

    Returns:
        int64 array ``(n_gestures, 3)``: 0-based class, start and end (us).

    Raises:
        FileNotFoundError: no such file.
        DataError: wrong header, a malformed row, a class outside 1..n_classes,
            ``end <= start`` or a time too large for a recording, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or [c.strip() for c in lines[0].split(",")] != \
            ["class", "startTime_usec", "endTime_usec"]:
        raise DataError(f"{path}: first line must be 'class,startTime_usec,endTime_usec'")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = [c.strip() for c in line.split(",")]
        try:
            if len(parts) != 3:
                raise ValueError
            cls, start, end = (int(c) for c in parts)
        except ValueError:
            raise DataError(f"{path}: line {lineno}: expected three integers; got {line!r}") from None
        if not 1 <= cls <= n_classes:
            raise DataError(f"{path}: line {lineno}: class must lie in 1..{n_classes}; got {cls}")
        if end <= start or start < 0:
            raise DataError(f"{path}: line {lineno}: need 0 <= start < end; got {start}, {end}")
        if end > _MAX_US:
            raise DataError(f"{path}: line {lineno}: times must be at most {_MAX_US} us (the "
                            f"recordings' 63-bit clock); got {end}")
        rows.append((cls - 1, start, end))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def downsampled_unit(x: np.ndarray, y: np.ndarray, p: np.ndarray, factor: int = 4,
                     sensor_size: int = DVS_SENSOR_SIZE) -> np.ndarray:
    """Flat unit index of an event after ``factor`` x ``factor`` downsampling.

    With ``side = sensor_size // factor`` (32): ``unit = p*side**2 + (y//factor)*side + x//factor``,
    so a dense ``(..., 2*side*side)`` tensor reshapes to ``(..., 2, side, side)``
    (channel = polarity, then row y, column x).
    """
    side = sensor_size // factor
    return (p.astype(np.int64) * side + y.astype(np.int64) // factor) * side + x.astype(np.int64) // factor


class DvsGestureDataset:
    """DVS-Gesture samples (one per gesture) in event form, downsampled.

    Attributes:
        events: a :class:`SpikeDataset` with ``n_units = 2*side*side`` (unit =
            :func:`downsampled_unit`, stored as int16), spike times in seconds
            from the gesture start (stored as float32: below 8 s the spacing of
            float32 values is under 1 us, the sensor's resolution), ``duration``
            = the longest gesture.
        lengths: gesture durations in seconds, ``(n_samples,)``.
        side: downsampled image side (32).
    """

    def __init__(self, events: SpikeDataset, lengths: np.ndarray, side: int) -> None:
        self.events = events
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.side = side

    def __len__(self) -> int:
        return len(self.events)

    @property
    def labels(self) -> np.ndarray:
        return self.events.labels

    def dense(self, indices, dt: float = 2e-3, *, crop: float = 1.0, drop_prob: float = 0.5,
              random_crop: bool = True, generator: torch.Generator | None = None,
              binary: bool = False, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None) -> torch.Tensor:
        """Preprocess samples ``indices`` (paper section 4.1) into ``(B, T, 2, side, side)``.

        Each event is kept with probability ``1 - drop_prob``; a window
        ``[s, s + crop)`` with ``s ~ U(0, max(0, length - crop))`` (or ``s = 0``
        if not ``random_crop``) is cut out and binned at ``dt`` (``T =
        ceil(crop/dt)``; a gesture shorter than ``crop`` is padded with
        silence).  Values are event counts per bin (``binary``: clipped to 1).
        All randomness comes from ``generator``.
        """
        v = check_all({k: DVS_CONSTRAINTS[k] for k in ("dt", "crop", "drop_prob")},
                      dt=dt, crop=crop, drop_prob=drop_prob)
        ds = self.events
        idx = ds._check_indices(indices)
        n_t = n_steps_for(v["crop"], v["dt"])
        pos, b = ds._gather(idx)
        t = ds.times[pos].astype(np.float64)
        u = ds.units[pos].astype(np.int64)
        keep = torch.rand(pos.shape[0], generator=generator, dtype=torch.float64).numpy() \
            >= v["drop_prob"]
        slack = np.maximum(self.lengths[idx] - v["crop"], 0.0)
        if random_crop:
            start = torch.rand(idx.shape[0], generator=generator, dtype=torch.float64).numpy() * slack
        else:
            start = np.zeros(idx.shape[0])
        t_rel = t - start[b]
        step = np.floor(t_rel / v["dt"]).astype(np.int64)
        keep &= (t_rel >= 0) & (step < n_t) & (t_rel < v["crop"])
        n_units = ds.n_units
        flat = torch.from_numpy((b[keep] * n_t + step[keep]) * n_units + u[keep])
        out = torch.zeros(idx.shape[0] * n_t * n_units, dtype=dtype, device=device)
        if flat.numel():
            out.index_put_((flat.to(out.device),), torch.ones((), dtype=dtype, device=out.device),
                           accumulate=True)
        if binary:
            out.clamp_(max=1)
        return out.view(idx.shape[0], n_t, 2, self.side, self.side)

    def batches(self, batch_size: int, dt: float = 2e-3, *, shuffle: bool = True,
                generator: torch.Generator | None = None, drop_last: bool = False,
                **kwargs) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Mini-batches ``(x (B, T, 2, side, side), labels (B,))``; ``kwargs`` go to :meth:`dense`."""
        batch_size = check("batch_size", batch_size, DVS_CONSTRAINTS["batch_size"])
        check("dt", dt, DVS_CONSTRAINTS["dt"])
        n = len(self)
        order = torch.randperm(n, generator=generator).numpy() if shuffle else np.arange(n)
        stop = n - (n % batch_size) if drop_last else n
        for s in range(0, stop, batch_size):
            idx = order[s : s + batch_size]
            yield (self.dense(idx, dt, generator=generator, **kwargs),
                   torch.from_numpy(self.labels[idx]).to(kwargs.get("device")))


@dataclass(frozen=True)
class DvsGestureSplits:
    """The official DVS-Gesture train/test split (``trials_to_train.txt`` / ``trials_to_test.txt``)."""

    train: DvsGestureDataset
    test: DvsGestureDataset


def _missing_message(root: Path, what: str) -> str:
    return (
        f"DVS-Gesture not found: {what}; extract DvsGesture.tar.gz (from {DVS_URL}) so that "
        f"{root}/DvsGesture/ (or {root}/) holds trials_to_train.txt, trials_to_test.txt and every "
        f"listed userXX_lighting.aedat with its userXX_lighting_labels.csv"
    )


def _find_base(root: Path) -> Path:
    for base in (root / "DvsGesture", root):
        if all((base / n).is_file() for n in DVS_TRIAL_LISTS.values()):
            return base
    gone = "" if root.exists() else " (the folder does not exist)"
    raise FileNotFoundError(_missing_message(root, f"no trials_to_train.txt/trials_to_test.txt in {root}{gone}"))


def _trial_names(path: Path) -> list[str]:
    names = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    names = [n for n in names if n]
    bad = [n for n in names if not n.endswith(".aedat") or "/" in n or "\\" in n]
    if bad:
        raise DataError(f"{path}: entries must be plain '*.aedat' file names; got {bad[0]!r}")
    if not names:
        raise DataError(f"{path}: lists no recordings (expected one userXX_lighting.aedat per line)")
    return names


def load_dvs_gesture(root: str | os.PathLike, *, factor: int = 4) -> DvsGestureSplits:
    """Load DVS-Gesture from the official layout; every file is read and checked before returning.

    Each labelled gesture (a row of a ``*_labels.csv``) becomes one sample:
    its events with ``start <= t < end``, times in seconds from ``start``,
    addresses downsampled by ``factor`` (4: 128x128 -> 32x32) into units
    :func:`downsampled_unit`.  Preprocess per mini-batch with
    :meth:`DvsGestureDataset.batches` (drop p = 0.5, random 1 s crop, bin at dt).

    Spike times come from the recordings' integer microsecond timestamps, so they are always
    finite: the NaN/inf policy of :func:`fluctinit.datasets.check_spike_times` (drop and warn,
    or reject with ``strict``) never has anything to do here, and this loader takes no
    ``strict``.  A gesture without events is a sample without spikes (``spike_counts() == 0``).

    Raises:
        ParameterError: ``root`` empty or a file; ``factor`` does not divide 128.
        FileNotFoundError: a list, recording or label file missing -- the message says
            which files to put where.
        DataError: a malformed file, naming it.
    """
    factor = check("factor", factor, DVS_CONSTRAINTS["factor"])
    if DVS_SENSOR_SIZE % factor:
        from fluctinit.errors import ParameterError

        raise ParameterError(f"`factor` must divide {DVS_SENSOR_SIZE}; got {factor!r}",
                             ["factor"], [factor])
    root = input_root("root", root, "the extracted DvsGesture/ folder (or its contents)")
    base = _find_base(root)
    lists = {split: _trial_names(base / name) for split, name in DVS_TRIAL_LISTS.items()}
    missing = []
    for names in lists.values():
        for n in names:
            for f in (n, n[: -len(".aedat")] + "_labels.csv"):
                if not (base / f).is_file():
                    missing.append(f)
    if missing:
        raise FileNotFoundError(_missing_message(root, f"missing in {base}: {', '.join(missing[:5])}"
                                                 + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")))
    side = DVS_SENSOR_SIZE // factor
    out = {}
    for split, names in lists.items():
        t_all, u_all, counts, labels, lengths = [], [], [], [], []
        for n in names:
            ev = read_aedat31(base / n)
            rows = read_gesture_labels(base / (n[: -len(".aedat")] + "_labels.csv"))
            order = np.argsort(ev["t"], kind="stable")
            t_sorted = ev["t"][order]
            unit = downsampled_unit(ev["x"], ev["y"], ev["p"], factor)[order]
            for cls, start, end in rows:
                a, b = np.searchsorted(t_sorted, [start, end], side="left")
                t_all.append(((t_sorted[a:b] - start) * 1e-6).astype(np.float32))
                u_all.append(unit[a:b].astype(np.int16))
                counts.append(b - a)
                labels.append(cls)
                lengths.append((end - start) * 1e-6)
        duration = max(lengths) if lengths else 1.0
        events = SpikeDataset.from_flat(
            np.concatenate(t_all) if t_all else np.zeros(0),
            np.concatenate(u_all) if u_all else np.zeros(0, np.int64),
            np.array(counts, dtype=np.int64), np.array(labels, dtype=np.int64),
            2 * side * side, duration, DVS_N_CLASSES, source=str(base / DVS_TRIAL_LISTS[split]))
        out[split] = DvsGestureDataset(events, np.array(lengths), side)
    return DvsGestureSplits(train=out["train"], test=out["test"])
