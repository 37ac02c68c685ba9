"""Edges of the data sets beyond the CLI table: partial downloads, silent data, caches, roots."""

import gzip
import hashlib

import numpy as np
import pytest

from fluctinit import cli
from fluctinit.datasets import load_cifar10, load_dvs_gesture, load_shd, make_randman
from fluctinit.datasets import randman as randman_mod
from fluctinit.datasets.shd import download_shd
from fluctinit.errors import ParameterError

from test_data_dvs import random_recording, write_aedat, write_labels
from test_data_shd import random_split, serve, write_shd

SMALL = dict(samples_per_class=20, n_train=10, n_valid=5, n_test=5, max_terms=50)


def test_partial_download_keeps_the_complete_file_only(tmp_path, capsys):
    """Train arrives, test is missing on the server: shd_train.h5 stays, no temp file, exit 2."""
    rng = np.random.default_rng(0)
    write_shd(tmp_path / "orig.h5", *random_split(rng, 5))
    site = tmp_path / "site" / "datasets"
    site.mkdir(parents=True)
    blob = gzip.compress((tmp_path / "orig.h5").read_bytes())
    (site / "shd_train.h5.gz").write_bytes(blob)
    sums = {"shd_train.h5.gz": hashlib.md5(blob).hexdigest(), "shd_test.h5.gz": "0" * 32}
    dest = tmp_path / "a" / "b"
    with serve(tmp_path / "site") as url:
        with pytest.raises(FileNotFoundError, match="HTTP 404") as err:
            download_shd(dest, base_url=url, checksums=sums, timeout=10)
    assert "shd_test.h5" in str(err.value) and "missing" in str(err.value)
    assert [p.name for p in dest.iterdir()] == ["shd_train.h5"]
    assert (dest / "shd_train.h5").read_bytes() == (tmp_path / "orig.h5").read_bytes()


def test_download_refuses_the_file_system_root_and_bad_urls(tmp_path):
    with pytest.raises(ParameterError, match=r"`root` must be a writable folder; got '/' \(the file-system root\)"):
        download_shd("/", base_url="http://127.0.0.1:9/")
    for url in ("ftp://x/", "", None, "nonsense"):
        with pytest.raises(ParameterError, match="`base_url`"):
            download_shd(tmp_path / "d", base_url=url)
    with pytest.raises(ParameterError, match="`timeout`"):
        download_shd(tmp_path / "d", timeout=1e9)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("loader", [load_shd, load_cifar10, load_dvs_gesture])
def test_loaders_refuse_an_empty_root_or_a_file(loader, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "" would otherwise be the current folder
    with pytest.raises(ParameterError, match=r"`root` must be a folder holding .*; got '' \(empty\)"):
        loader("")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ParameterError, match="a file, not a folder"):
        loader(tmp_path / "f")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        loader(tmp_path / "nope")


def test_make_randman_checks_the_cache_folder_before_generating(tmp_path, monkeypatch):
    def boom(config):
        raise AssertionError("generated before the cache folder was checked")

    monkeypatch.setattr(randman_mod, "_generate_randman_arrays", boom)
    (tmp_path / "f").write_text("x")
    for bad, why in ((tmp_path / "f", "an existing file"), ("", "empty"), ("/", "file-system root")):
        with pytest.raises(ParameterError, match=f"`cache_dir`.*{why}"):
            make_randman(**SMALL, cache_dir=bad)


@pytest.mark.parametrize("damage", ["truncated", "misshapen", "missing-key", "nan"])
def test_a_damaged_cache_is_regenerated(tmp_path, damage):
    fresh = make_randman(**SMALL, cache_dir=tmp_path)
    (path,) = tmp_path.glob("randman-*.npz")
    if damage == "truncated":  # a zip archive cut short (np.load raises BadZipFile)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        if damage == "misshapen":
            arrays["train_times"] = arrays["train_times"][:, :3]
        elif damage == "missing-key":
            del arrays["test_labels"]
        else:
            arrays["valid_times"][0, 0] = np.nan
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    again = make_randman(**SMALL, cache_dir=tmp_path)
    for split in ("train", "valid", "test"):
        a, b = getattr(fresh, split), getattr(again, split)
        assert np.array_equal(a.times, b.times) and np.array_equal(a.labels, b.labels)
    with np.load(path) as f:  # and the entry was rewritten whole
        assert f["train_times"].shape == fresh.train.times.reshape(len(fresh.train), -1).shape


# ------------------------------------------------------------------ silent data in the summary ---


def test_summary_says_when_a_split_has_no_spikes(tmp_path, capsys):
    write_shd(tmp_path / "shd_train.h5", [[]] * 10, [[]] * 10, [0] * 10)
    write_shd(tmp_path / "shd_test.h5", [[0.1], [], [0.9]], [[1], [], [2]], [0, 1, 2])
    assert cli.main(["data", "shd", "--root", str(tmp_path)]) == 0
    train, valid, test = capsys.readouterr().out.splitlines()
    assert train.startswith("shd train: 9 samples") and "NO SPIKES AT ALL" in train
    assert "NO SPIKES AT ALL" in valid
    # 0.9 s lies beyond the 700 ms cut: two of three test samples are silent
    assert "1 spikes" in test and "2 samples without spikes" in test and "NO SPIKES" not in test


def test_summary_says_when_an_shd_file_has_no_samples(tmp_path, capsys):
    write_shd(tmp_path / "shd_train.h5", [], [], [])
    write_shd(tmp_path / "shd_test.h5", [[0.1]], [[1]], [0])
    assert cli.main(["data", "shd", "--root", str(tmp_path)]) == 0
    train = capsys.readouterr().out.splitlines()[0]
    assert train.startswith("shd train: 0 samples") and "no samples at all" in train


def test_dvs_summary_says_when_gestures_have_no_events(tmp_path, capsys):
    base = tmp_path / "DvsGesture"
    base.mkdir()
    rng = np.random.default_rng(0)
    write_aedat(base / "user01_led.aedat", *random_recording(rng, 100, 1_000_000))
    write_labels(base / "user01_led_labels.csv", [(1, 5_000_000, 6_000_000)])  # after the recording
    write_aedat(base / "user02_lab.aedat", *random_recording(rng, 100, 1_000_000))
    write_labels(base / "user02_lab_labels.csv", [(2, 0, 1_000_000), (3, 2_000_000, 3_000_000)])
    (base / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (base / "trials_to_test.txt").write_text("user02_lab.aedat\n")
    assert cli.main(["data", "dvs-gesture", "--root", str(tmp_path)]) == 0
    train, test = capsys.readouterr().out.splitlines()
    assert "NO EVENTS AT ALL" in train
    assert "100 events" in test and "1 gestures without events" in test
