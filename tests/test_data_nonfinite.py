"""The policy for NaN/inf spike times (fluctinit.datasets.check_spike_times) wherever times are read.

Non-strict (the file loaders' default): events with non-finite times are dropped, exactly one
DataWarning gives their count and the first sample affected, and every finite event is kept
unchanged.  Strict (SpikeDataset's default, ``strict=True`` / ``--strict``): a DataError naming
the source and the sample.  Negative finite times are an error either way.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluctinit import cli
from fluctinit.datasets import DataError, DataWarning, SpikeDataset, load_shd, validate_shd_file

from test_data_shd import random_split, write_shd

NAN, INF = float("nan"), float("inf")


def _finite_by_sample(times, units):
    """The expected result: per sample, the finite events in their original order."""
    out = []
    for t, u in zip(times, units):
        t, u = np.asarray(t, dtype=np.float64), np.asarray(u)
        keep = np.isfinite(t)
        out.append((t[keep], u[keep]))
    return out


def _build(times, units, **kw):
    return SpikeDataset.from_samples(times, units, np.zeros(len(times), int), 4, 1.0, **kw)


def test_dropped_with_one_warning_naming_count_and_first_sample():
    times = [[0.1, 0.2], [0.3, NAN, 0.5, INF], [-INF], [0.9]]
    units = [[0, 1], [2, 3, 0, 1], [2], [3]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = _build(times, units, strict=False, source="my.h5")
    assert len(caught) == 1 and caught[0].category is DataWarning
    msg = str(caught[0].message)
    assert "my.h5" in msg and "dropped 3 events" in msg and "first in sample 1" in msg and "\n" not in msg
    assert caught[0].filename == __file__  # points at the caller, not at the library
    assert ds.n_events == 5 and len(ds) == 4
    for i, (t, u) in enumerate(_finite_by_sample(times, units)):
        ti, ui, _ = ds.sample(i)
        assert np.array_equal(ti, t) and np.array_equal(ui, u)
    assert ds.spike_counts().tolist() == [2, 2, 0, 1]


def test_strict_rejects_naming_the_sample():
    with pytest.raises(DataError, match=r"my\.h5: sample 2: spike times must be finite and >= 0 s; got inf"):
        _build([[0.1], [0.2], [0.3, INF]], [[0], [1], [2, 3]], strict=True, source="my.h5")
    with pytest.raises(DataError, match="sample 0"):  # strict is SpikeDataset's default
        _build([[NAN]], [[0]])


def test_negative_times_are_an_error_even_when_not_strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: the error comes first
        with pytest.raises(DataError, match="sample 1: spike times must be finite and >= 0 s; got -0.5"):
            _build([[NAN], [-0.5]], [[0], [1]], strict=False)


def test_all_events_non_finite_leaves_an_empty_but_valid_data_set():
    with pytest.warns(DataWarning, match="dropped 2 events"):
        ds = _build([[NAN], [INF]], [[0], [1]], strict=False)
    assert ds.n_events == 0 and len(ds) == 2 and ds.dense(dt=0.1).sum() == 0


def test_no_warning_without_non_finite_times():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = _build([[0.1], []], [[0], []], strict=False)
    assert ds.n_events == 1


@given(st.lists(st.lists(st.sampled_from([0.0, 0.25, 0.7, 3.0, NAN, INF, -INF]), max_size=6), min_size=1,
                max_size=8))
def test_kept_events_are_exactly_the_finite_ones(times):
    units = [[j % 4 for j in range(len(t))] for t in times]
    n_bad = sum(not np.isfinite(x) for t in times for x in t)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = _build(times, units, strict=False)
    assert len(caught) == (1 if n_bad else 0)
    if n_bad:
        first = next(i for i, t in enumerate(times) if not all(np.isfinite(t)))
        assert f"dropped {n_bad} event" in str(caught[0].message)
        assert f"first in sample {first}" in str(caught[0].message)
    for i, (t, u) in enumerate(_finite_by_sample(times, units)):
        ti, ui, _ = ds.sample(i)
        assert np.array_equal(ti, t) and np.array_equal(ui, u)


# ------------------------------------------------------------------ SHD files ------------------


@pytest.fixture
def nan_root(tmp_path):
    """shd_train.h5 with 3 non-finite times (first in sample 2), a clean shd_test.h5."""
    rng = np.random.default_rng(3)
    times, units, labels = random_split(rng, 12)
    times = [np.asarray(t, dtype=np.float32) for t in times]
    times[2] = np.append(times[2], np.float32(np.nan))
    units[2] = np.append(units[2], 5)
    times[5] = np.concatenate([[np.inf], times[5], [np.nan]]).astype(np.float32)
    units[5] = np.concatenate([[1], units[5], [2]])
    write_shd(tmp_path / "shd_train.h5", times, units, labels)
    write_shd(tmp_path / "shd_test.h5", *random_split(rng, 4))
    return tmp_path, times, units


def test_load_shd_drops_warns_once_and_keeps_the_finite_events(nan_root):
    root, times, units = nan_root
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = load_shd(root, valid_fraction=0.0)
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert str(root / "shd_train.h5") in msg and "dropped 3 events" in msg and "first in sample 2" in msg
    for i, (t, u) in enumerate(_finite_by_sample(times, units)):
        ti, ui, _ = s.train.sample(i)
        keep = t < 0.7  # then the paper's 700 ms cut
        assert np.array_equal(ti, t[keep].astype(np.float32)) and np.array_equal(ui, u[keep])


def test_validate_shd_file_applies_the_policy(nan_root):
    root, times, _ = nan_root
    with pytest.warns(DataWarning, match="dropped 3 events"):
        t, u, c, y = validate_shd_file(root / "shd_train.h5")
    assert np.isfinite(t).all() and c.sum() == t.shape[0] == u.shape[0]
    assert c.tolist() == [int(np.isfinite(x).sum()) for x in times]
    with pytest.raises(DataError, match="shd_train.h5: sample 2: spike times must be finite"):
        validate_shd_file(root / "shd_train.h5", strict=True)


def test_load_shd_strict_rejects(nan_root):
    root, _, _ = nan_root
    with pytest.raises(DataError, match="shd_train.h5: sample 2"):
        load_shd(root, strict=True)


def test_cli_warns_in_one_line_and_strict_exits_2(nan_root, capsys):
    root, _, _ = nan_root
    assert cli.main(["data", "shd", "--root", str(root)]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("fluctinit data: warning: ")
    assert "dropped 3 events" in err and "shd_train.h5" in err and "first in sample 2" in err
    assert len(out.splitlines()) == 3
    assert cli.main(["data", "shd", "--root", str(root), "--strict"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "shd_train.h5: sample 2" in err


def test_validate_shd_drops_by_default_and_strict_exits_2(nan_root, capsys):
    """The same policy on the membrane statistics: `validate shd` measures on the finite events
    (one warning), `--strict` refuses the file."""
    root, _, _ = nan_root
    argv = ["validate", "shd", "--path", str(root / "shd_train.h5"), "--neurons", "4", "--json"]
    with pytest.warns(DataWarning, match="dropped 3 events"):
        assert cli.main(argv) == 0
    assert '"ratio"' in capsys.readouterr().out
    assert cli.main(argv + ["--strict"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "shd_train.h5: sample 2" in err


def test_training_data_follow_the_policy(nan_root):
    from fluctinit.training import load_data, load_experiment

    root, _, _ = nan_root
    config = load_experiment("shd-ff")
    with pytest.warns(DataWarning, match="dropped 3 events"):
        load_data(config, root)
    with pytest.raises(DataError, match="shd_train.h5: sample 2"):
        load_data(config, root, strict=True)
