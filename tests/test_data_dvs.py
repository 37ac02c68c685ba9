"""DVS-Gesture: AEDAT 3.1 files and label CSVs generated in the official layout."""

import struct

import numpy as np
import pytest
import torch

from fluctinit.datasets.dvs_gesture import (
    downsampled_unit,
    load_dvs_gesture,
    read_aedat31,
    read_gesture_labels,
)
from fluctinit.datasets import DataError
from fluctinit.errors import ParameterError

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def packet(etype, events, overflow=0, size=8, ts_offset=4, capacity=None, number=None):
    """One packet: the 28-byte header (libcaer caer_event_packet_header) + events."""
    n = len(events) // size
    capacity = n if capacity is None else capacity
    number = n if number is None else number
    head = struct.pack("<hhiiiiii", etype, 1, size, ts_offset, overflow, capacity, number, number)
    return head + events


def polarity_events(t, x, y, p, valid=None):
    valid = np.ones(len(t), dtype=np.uint32) if valid is None else np.asarray(valid, np.uint32)
    data = (np.asarray(x, np.uint32) << 17) | (np.asarray(y, np.uint32) << 2) \
        | (np.asarray(p, np.uint32) << 1) | valid
    rec = np.empty(len(t), dtype=[("data", "<u4"), ("ts", "<i4")])
    rec["data"], rec["ts"] = data, np.asarray(t, np.int64) & 0x7FFFFFFF
    return rec.tobytes()


def write_aedat(path, t, x, y, p, *, chunk=50, extra=True):
    """Events split into packets (overflow from t >> 31), with a special-event packet mixed in."""
    t = np.asarray(t, np.int64)
    blob = HEADER
    for s in range(0, len(t), chunk):
        sl = slice(s, s + chunk)
        overflow = int(t[sl][0] >> 31)
        assert np.all((t[sl] >> 31) == overflow)
        blob += packet(1, polarity_events(t[sl], x[sl], y[sl], p[sl]), overflow=overflow)
        if extra:  # a SPECIAL_EVENT packet (type 0), 8-byte events: skipped by the reader
            blob += packet(0, b"\x01\x00\x00\x00\x05\x00\x00\x00" * 2)
    path.write_bytes(blob)


def random_recording(rng, n, t_end):
    t = np.sort(rng.integers(0, t_end, n))
    return t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)


def write_labels(path, rows):
    path.write_text("class,startTime_usec,endTime_usec\n" +
                    "".join(f"{c},{a},{b}\n" for c, a, b in rows))


@pytest.fixture
def gesture_root(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "DvsGesture"
    base.mkdir()
    rec = {}
    for name, rows in (
        ("user01_fluorescent", [(1, 100_000, 2_600_000), (11, 3_000_000, 3_600_000)]),
        ("user02_lab", [(5, 0, 1_500_000)]),
        ("user24_led", [(3, 500_000, 2_500_000)]),
    ):
        ev = random_recording(rng, 3000, 4_000_000)
        write_aedat(base / f"{name}.aedat", *ev)
        write_labels(base / f"{name}_labels.csv", rows)
        rec[name] = (ev, rows)
    (base / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_lab.aedat\n\n")
    (base / "trials_to_test.txt").write_text("user24_led.aedat\n")
    return tmp_path, rec


def test_aedat_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    t, x, y, p = random_recording(rng, 500, 10**6)
    t = t + (3 << 31) * (np.arange(500) >= 250)  # later events past a timestamp overflow
    write_aedat(tmp_path / "r.aedat", t, x, y, p)
    ev = read_aedat31(tmp_path / "r.aedat")
    assert np.array_equal(ev["t"], t)
    assert np.array_equal(ev["x"], x) and np.array_equal(ev["y"], y) and np.array_equal(ev["p"], p)


def test_invalid_events_skipped(tmp_path):
    blob = HEADER + packet(1, polarity_events([1, 2, 3], [1, 2, 3], [4, 5, 6], [0, 1, 0],
                                              valid=[1, 0, 1]))
    (tmp_path / "v.aedat").write_bytes(blob)
    ev = read_aedat31(tmp_path / "v.aedat")
    assert ev["t"].tolist() == [1, 3] and ev["x"].tolist() == [1, 3]


@pytest.mark.parametrize(
    "blob, match",
    [
        (b"#!AER-DAT2.0\r\n#!END-HEADER\r\n", "not an AEDAT 3.1 file"),
        (b"#!AER-DAT3.1\r\n#Format: RAW\r\n", "not terminated"),
        (HEADER + b"\x01\x00" * 5, "truncated packet header"),
        (HEADER + packet(1, polarity_events([1, 2], [1, 2], [1, 2], [0, 1]))[:-4], "truncated packet"),
        (HEADER + packet(1, b"\x00" * 12, size=6), "polarity events must be 8 bytes"),
        (HEADER + packet(1, polarity_events([1], [128], [0], [0])), "outside the 128x128 sensor"),
        (HEADER + packet(1, polarity_events([1], [1], [1], [0]), number=2), "bad packet header"),
    ],
)
def test_malformed_aedat(tmp_path, blob, match):
    (tmp_path / "bad.aedat").write_bytes(blob)
    with pytest.raises(DataError, match=match) as err:
        read_aedat31(tmp_path / "bad.aedat")
    assert "bad.aedat" in str(err.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ("cls,start,end\n1,0,10\n", "first line"),
        ("class,startTime_usec,endTime_usec\n12,0,10\n", "line 2: class must lie in 1..11"),
        ("class,startTime_usec,endTime_usec\n1,0,10\n2,10,5\n", "line 3: need 0 <= start < end"),
        ("class,startTime_usec,endTime_usec\n1,a,10\n", "line 2: expected three integers"),
    ],
)
def test_malformed_labels(tmp_path, text, match):
    (tmp_path / "x_labels.csv").write_text(text)
    with pytest.raises(DataError, match=match):
        read_gesture_labels(tmp_path / "x_labels.csv")


def test_labels_zero_based(tmp_path):
    write_labels(tmp_path / "l.csv", [(1, 0, 5), (11, 7, 9)])
    assert read_gesture_labels(tmp_path / "l.csv").tolist() == [[0, 0, 5], [10, 7, 9]]


def test_load_splits_events_and_labels(gesture_root):
    root, rec = gesture_root
    s = load_dvs_gesture(root)
    assert len(s.train) == 3 and len(s.test) == 1
    assert s.train.labels.tolist() == [0, 10, 4] and s.test.labels.tolist() == [2]
    assert s.train.lengths.tolist() == pytest.approx([2.5, 0.6, 1.5])
    assert s.train.events.n_units == 2 * 32 * 32
    # first gesture: events with 100 ms <= t < 2.6 s, times relative to its start
    (t, x, y, p), rows = rec["user01_fluorescent"]
    sel = (t >= 100_000) & (t < 2_600_000)
    ts, units, _ = s.train.events.sample(0)
    assert np.allclose(ts, (t[sel] - 100_000) * 1e-6, atol=1e-6)
    assert np.array_equal(units, downsampled_unit(x[sel], y[sel], p[sel]))


def test_downsampled_unit_layout():
    # unit = p*1024 + (y//4)*32 + x//4: reshaping (..., 2048) -> (..., 2, 32, 32) gives [p, y, x]
    u = downsampled_unit(np.array([127, 5]), np.array([0, 126]), np.array([1, 0]))
    assert u.tolist() == [1024 + 31, 31 * 32 + 1]


def _manual_bins(t_us, x, y, p, start_us, end_us, crop_s, dt):
    n_t = int(round(crop_s / dt))
    out = np.zeros((n_t, 2, 32, 32))
    # times are stored as float32 seconds from the gesture start (as the loader documents)
    rel = ((t_us - start_us) * 1e-6).astype(np.float32).astype(np.float64)
    keep = (t_us >= start_us) & (t_us < end_us) & (rel < crop_s)
    steps = np.floor(rel[keep] / dt).astype(int)
    np.add.at(out, (steps, p[keep], y[keep] // 4, x[keep] // 4), 1)
    return out


def test_preprocessing_without_randomness_matches_manual_binning(gesture_root):
    root, rec = gesture_root
    s = load_dvs_gesture(root)
    x_b = s.train.dense([0, 2], dt=2e-3, drop_prob=0.0, random_crop=False)
    assert x_b.shape == (2, 500, 2, 32, 32)
    (t, x, y, p), _ = rec["user01_fluorescent"]
    expect = _manual_bins(t, x, y, p, 100_000, 2_600_000, 1.0, 2e-3)
    assert np.array_equal(x_b[0].numpy(), expect)
    (t, x, y, p), _ = rec["user02_lab"]
    assert np.array_equal(x_b[1].numpy(), _manual_bins(t, x, y, p, 0, 1_500_000, 1.0, 2e-3))
    # a gesture shorter than the crop is padded with silence
    short = s.train.dense([1], dt=2e-3, drop_prob=0.0)
    (t, x, y, p), _ = rec["user01_fluorescent"]
    assert np.array_equal(short[0].numpy(), _manual_bins(t, x, y, p, 3_000_000, 3_600_000, 1.0, 2e-3))


def test_drop_probability_half(gesture_root):
    root, _ = gesture_root
    s = load_dvs_gesture(root)
    n_all = s.train.dense([0], drop_prob=0.0, random_crop=False).sum().item()
    kept = s.train.dense([0], drop_prob=0.5, random_crop=False,
                         generator=torch.Generator().manual_seed(0)).sum().item()
    # binomial: mean n/2, SE sqrt(n)/2
    assert abs(kept - n_all / 2) < 4 * np.sqrt(n_all) / 2
    assert s.train.dense([0], drop_prob=1.0).sum() == 0


def test_random_crop_is_seeded_and_inside_the_gesture(gesture_root):
    root, rec = gesture_root
    s = load_dvs_gesture(root)
    g = lambda k: torch.Generator().manual_seed(k)  # noqa: E731
    a = s.train.dense([0], drop_prob=0.0, generator=g(3))
    b = s.train.dense([0], drop_prob=0.0, generator=g(3))
    c = s.train.dense([0], drop_prob=0.0, generator=g(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # the crop holds about 1 s of a 2.5 s gesture's events (uniform in time)
    (t, *_), _ = rec["user01_fluorescent"]
    n_gesture = int(((t >= 100_000) & (t < 2_600_000)).sum())
    assert 0.25 * n_gesture < a.sum().item() < 0.55 * n_gesture


def test_batches(gesture_root):
    root, _ = gesture_root
    s = load_dvs_gesture(root)
    out = list(s.train.batches(2, dt=5e-3, generator=torch.Generator().manual_seed(0)))
    assert [x.shape for x, _ in out] == [(2, 200, 2, 32, 32), (1, 200, 2, 32, 32)]
    assert sorted(torch.cat([y for _, y in out]).tolist()) == [0, 4, 10]


def test_missing_files_say_what_to_put_where(gesture_root, tmp_path):
    root, _ = gesture_root
    (root / "DvsGesture" / "user02_lab_labels.csv").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_dvs_gesture(root)
    assert "user02_lab_labels.csv" in str(err.value) and "DvsGesture.tar.gz" in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="trials_to_train.txt"):
        load_dvs_gesture(empty)


def test_bad_factor(gesture_root):
    root, _ = gesture_root
    with pytest.raises(ParameterError, match="`factor`"):
        load_dvs_gesture(root, factor=3)
