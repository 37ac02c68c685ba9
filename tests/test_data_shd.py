"""SHD: loading generated files in the official layout, validation, download against a local server."""

import contextlib
import gzip
import hashlib
import http.server
import shutil
import threading

import h5py
import numpy as np
import pytest
import torch

from fluctinit.datasets.shd import SHD_FILES, download_shd, load_shd, validate_shd_file
from fluctinit.datasets import DataError
from fluctinit.errors import ParameterError


def write_shd(path, times, units, labels, *, drop=None, units_dtype=np.uint16):
    """An HDF5 file in the official SHD layout (vlen float times, vlen uint16 units, labels)."""
    with h5py.File(path, "w") as f:
        sp = f.create_group("spikes")
        if drop != "spikes/times":
            ds = sp.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
            for i, t in enumerate(times):
                ds[i] = np.asarray(t, dtype=np.float32)
        if drop != "spikes/units":
            ds = sp.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(units_dtype))
            for i, u in enumerate(units):
                ds[i] = np.asarray(u, dtype=units_dtype)
        if drop != "labels":
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))


def random_split(rng, n):
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(0, 30))
        times.append(np.sort(rng.random(k) * 0.9))  # some spikes beyond 0.7 s
        units.append(rng.integers(0, 700, k))
    return times, units, rng.integers(0, 20, n)


@pytest.fixture
def shd_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "shd"
    root.mkdir()
    data = {}
    for split, n in (("train", 40), ("test", 12)):
        t, u, y = random_split(rng, n)
        write_shd(root / SHD_FILES[split], t, u, y)
        data[split] = (t, u, y)
    return root, data


def test_load_round_trip(shd_root):
    root, data = shd_root
    s = load_shd(root)
    assert (len(s.train), len(s.valid), len(s.test)) == (36, 4, 12)  # 10% held out
    assert s.test.n_units == 700 and s.test.duration == 0.7 and s.test.n_classes == 20
    t, u, y = data["test"]
    for i in range(12):
        ti, ui, yi = s.test.sample(i)
        keep = np.asarray(t[i], dtype=np.float32) < 0.7
        assert np.array_equal(ti, np.asarray(t[i], dtype=np.float32)[keep])
        assert np.array_equal(ui, u[i][keep])
        assert yi == y[i]
    # train + valid together are exactly the training file, cut at 700 ms
    t, u, y = data["train"]
    total = sum(int((np.asarray(ti, dtype=np.float32) < 0.7).sum()) for ti in t)
    assert s.train.n_events + s.valid.n_events == total
    assert sorted(np.concatenate([s.train.labels, s.valid.labels]).tolist()) == sorted(y.tolist())
    x = s.test.dense(np.arange(3), dt=2e-3)
    assert x.shape == (3, 350, 700)
    # seeded validation split
    again = load_shd(root)
    assert np.array_equal(again.valid.times, s.valid.times)
    other = load_shd(root, seed=1)
    assert not np.array_equal(np.sort(other.valid.labels), np.sort(s.valid.labels)) or \
        not np.array_equal(other.valid.times, s.valid.times)


def test_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_shd(tmp_path)
    msg = str(err.value)
    assert "shd_train.h5" in msg and "shd_test.h5" in msg and str(tmp_path) in msg
    assert "zenkelab.org" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "mutate, match",
    [
        (dict(drop="spikes/times"), "missing dataset `spikes/times`"),
        (dict(drop="spikes/units"), "missing dataset `spikes/units`"),
        (dict(drop="labels"), "missing dataset `labels`"),
        (dict(labels=[0, 1]), "length mismatch"),
        (dict(units=[[1, 2], [3], [4]]), "sample 0"),
        (dict(units=[[1], [700], [3]]), r"\[0, 700\)"),
        (dict(times=[[0.1], [-0.1], [0.2]]), "sample 1: spike times must be finite and >= 0"),
        # NaN/inf times are dropped by default (tests/test_data_nonfinite.py); strict rejects
        (dict(times=[[0.1], [0.2], [np.inf]], strict=True),
         "sample 2: spike times must be finite and >= 0"),
        (dict(labels=[0, 20, 1]), r"labels must lie in \[0, 20\)"),
    ],
)
def test_malformed_files_name_file_and_problem(tmp_path, mutate, match):
    args = dict(times=[[0.1], [0.2], [0.3]], units=[[1], [2], [3]], labels=[0, 1, 2])
    drop = mutate.pop("drop", None)
    strict = mutate.pop("strict", False)
    args.update(mutate)
    path = tmp_path / "shd_train.h5"
    write_shd(path, args["times"], args["units"], args["labels"], drop=drop)
    shutil.copy(path, tmp_path / "shd_test.h5")
    with pytest.raises(DataError, match=match) as err:
        load_shd(tmp_path, strict=strict)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_not_hdf5(tmp_path):
    (tmp_path / "shd_train.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        validate_shd_file(tmp_path / "shd_train.h5")


def test_nothing_half_loaded(tmp_path, shd_root):
    # a good train file with a bad test file: the whole load fails
    root, _ = shd_root
    write_shd(root / "shd_test.h5", [[0.1]], [[900]], [0])
    with pytest.raises(DataError, match="shd_test.h5"):
        load_shd(root)


def test_parameters_checked(shd_root):
    root, _ = shd_root
    for kw in (dict(duration=0.0), dict(valid_fraction=1.0), dict(seed=-1)):
        with pytest.raises(ParameterError, match=f"`{next(iter(kw))}`"):
            load_shd(root, **kw)


# ---------------------------------------------------------------- download --------------------


@contextlib.contextmanager
def serve(directory):
    """A bounded local HTTP server on 127.0.0.1 (random port) in a daemon thread."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(directory), **kw)

        def log_message(self, *a):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/datasets/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def mirror(tmp_path, shd_root):
    """A folder laid out like the server: datasets/shd_{train,test}.h5.gz and md5sums.txt."""
    root, _ = shd_root
    site = tmp_path / "site"
    (site / "datasets").mkdir(parents=True)
    sums = {}
    for name in SHD_FILES.values():
        gz = site / "datasets" / (name + ".gz")
        gz.write_bytes(gzip.compress((root / name).read_bytes()))
        sums[gz.name] = hashlib.md5(gz.read_bytes()).hexdigest()
    (site / "datasets" / "md5sums.txt").write_text(
        "".join(f"{v}  {k}\n" for k, v in sums.items()))
    return site, sums, root


def test_download_with_given_checksums(tmp_path, mirror):
    site, sums, original = mirror
    dest = tmp_path / "dest"
    with serve(site) as url:
        paths = download_shd(dest, base_url=url, checksums=sums, timeout=10)
    for split, name in SHD_FILES.items():
        assert paths[split] == dest / name
        assert (dest / name).read_bytes() == (original / name).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted(SHD_FILES.values())  # no temp files
    s = load_shd(dest)
    assert len(s.test) == 12


def test_download_with_server_md5sums(tmp_path, mirror):
    site, _, original = mirror
    dest = tmp_path / "dest"
    with serve(site) as url:
        download_shd(dest, base_url=url, checksums="server", timeout=10)
    assert (dest / "shd_test.h5").read_bytes() == (original / "shd_test.h5").read_bytes()


def _dest(tmp_path, existing):
    """The download target: an existing empty folder, or one the download has to create."""
    dest = tmp_path / "dest"
    if existing:
        dest.mkdir()
    return dest


def _left_nothing(dest, existing):
    if existing:  # the folder was there before: kept, and nothing written into it
        assert list(dest.iterdir()) == []
    else:  # the download created it: removed again
        assert not dest.exists()


@pytest.mark.parametrize("existing", [True, False])
def test_checksum_mismatch_leaves_nothing(tmp_path, mirror, existing):
    site, sums, _ = mirror
    dest = _dest(tmp_path, existing)
    bad = {**sums, "shd_train.h5.gz": "0" * 32}
    with serve(site) as url:
        with pytest.raises(DataError, match="MD5 checksum mismatch") as err:
            download_shd(dest, base_url=url, checksums=bad, timeout=10)
    assert "shd_train.h5.gz" in str(err.value) and "0" * 32 in str(err.value)
    _left_nothing(dest, existing)


def test_pinned_checksums_reject_other_files(tmp_path, mirror):
    # generated files cannot match the official MD5s: the pinned check must fire
    site, _, _ = mirror
    with serve(site) as url:
        with pytest.raises(DataError, match="MD5 checksum mismatch"):
            download_shd(tmp_path / "dest", base_url=url, timeout=10)


@pytest.mark.parametrize("existing", [True, False])
def test_corrupt_gzip(tmp_path, mirror, existing):
    site, sums, _ = mirror
    gz = site / "datasets" / "shd_train.h5.gz"
    gz.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    sums = {**sums, gz.name: hashlib.md5(gz.read_bytes()).hexdigest()}
    dest = _dest(tmp_path, existing)
    with serve(site) as url:
        with pytest.raises(DataError, match="not a valid gzip"):
            download_shd(dest, base_url=url, checksums=sums, timeout=10)
    _left_nothing(dest, existing)


@pytest.mark.parametrize("existing", [True, False])
def test_offline_error_says_what_to_put_where(tmp_path, mirror, existing):
    site, sums, _ = mirror
    with serve(site) as url:
        pass  # server now closed: the port refuses connections
    dest = _dest(tmp_path, existing)
    with pytest.raises(FileNotFoundError) as err:
        download_shd(dest, base_url=url, checksums=sums, timeout=5)
    msg = str(err.value)
    assert "could not download" in msg and "shd_train.h5" in msg and str(dest) in msg
    assert "\n" not in msg
    _left_nothing(dest, existing)


def test_existing_files_are_kept(tmp_path, shd_root):
    root, _ = shd_root
    before = (root / "shd_train.h5").read_bytes()
    # no network needed: both files exist
    download_shd(root, base_url="http://127.0.0.1:9/", checksums="pinned")
    assert (root / "shd_train.h5").read_bytes() == before


def test_bad_checksums_argument(tmp_path):
    with pytest.raises(ParameterError, match="`checksums`"):
        download_shd(tmp_path, checksums="md5")


def test_dense_batches_are_per_batch(shd_root):
    root, _ = shd_root
    s = load_shd(root)
    shapes = [x.shape for x, _ in s.train.batches(16, dt=2e-3, generator=torch.Generator().manual_seed(0))]
    assert shapes == [(16, 350, 700), (16, 350, 700), (4, 350, 700)]
