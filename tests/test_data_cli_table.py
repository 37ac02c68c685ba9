"""`fluctinit data shd|randman|cifar10|dvs-gesture` refuse every bad option and malformed file cleanly.

One table: each row is a command line plus the files it meets (generated in the official formats
with the writers of tests/test_data_{shd,cifar,dvs}.py).  Every row must end with exit status 2,
exactly one line on stderr that names the option or the file (and the problem), nothing on
stdout, no traceback, and no file or folder created, changed or removed anywhere under the
test's folder.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest

from fluctinit import cli

from test_data_cifar import batch_bytes, make_batches, write_archive
from test_data_dvs import HEADER, packet, polarity_events, random_recording, write_aedat, write_labels
from test_data_shd import random_split, serve, write_shd


@dataclass(frozen=True)
class Case:
    id: str
    argv: str  # split on spaces; {tmp} is the test's folder, {url} a live mirror, {dead} a closed port
    expect: tuple  # substrings of the one stderr line (the option or file, and the problem)
    setup: Callable[[Path], None] | None = None
    deny_write: str | None = None  # a path (under {tmp}) reported unwritable by os.access
    kind: str = field(default="option")  # for the tally: "option" or the kind of file


# ------------------------------------------------------------------ file writers -------------

GOOD_T, GOOD_U, GOOD_Y = [[0.1, 0.2], [0.3]], [[1, 2], [3]], [0, 1]


def vlen(values, dtype):
    def make(parent, name):
        ds = parent.create_dataset(name, (len(values),), dtype=h5py.vlen_dtype(dtype))
        for i, v in enumerate(values):
            ds[i] = np.asarray(v, dtype=dtype)
    return make


def strings(values):
    return lambda parent, name: parent.create_dataset(
        name, data=np.array(values, dtype=object), dtype=h5py.string_dtype())


def plain(data):
    return lambda parent, name: parent.create_dataset(name, data=data)


def group(parent, name):
    parent.create_group(name)


def raw_shd(path, *, times=vlen(GOOD_T, np.float32), units=vlen(GOOD_U, np.uint16),
            labels=plain(np.array(GOOD_Y, np.uint16)), spikes="group"):
    """An SHD-like HDF5 file with any part replaced (None: left out)."""
    with h5py.File(path, "w") as f:
        if spikes == "dataset":
            f.create_dataset("spikes", data=np.zeros(2))
        elif spikes == "group":
            sp = f.create_group("spikes")
            for name, make in (("times", times), ("units", units)):
                if make is not None:
                    make(sp, name)
        if labels is not None:
            labels(f, "labels")


def good_shd(root: Path) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("shd_train.h5", 30), ("shd_test.h5", 4)):
        write_shd(root / name, *random_split(rng, n))


def shd_with(which="shd_train.h5", **parts):
    def setup(tmp):
        good_shd(tmp / "shd")
        raw_shd(tmp / "shd" / which, **parts)
    return setup


def shd_bytes(which, mangle):
    def setup(tmp):
        good_shd(tmp / "shd")
        p = tmp / "shd" / which
        p.write_bytes(mangle(p.read_bytes()))
    return setup


def mirror(tmp, *, md5sums=True, only=None, blobs=None):
    """tmp/site/datasets/ laid out like the SHD server (gz files, md5sums.txt)."""
    import gzip
    import hashlib

    good_shd(tmp / "orig")
    site = tmp / "site" / "datasets"
    site.mkdir(parents=True)
    lines = []
    for name in ("shd_train.h5", "shd_test.h5"):
        if only and name != only:
            continue
        blob = (blobs or {}).get(name) or gzip.compress((tmp / "orig" / name).read_bytes())
        (site / (name + ".gz")).write_bytes(blob)
        lines.append(f"{hashlib.md5(blob).hexdigest()}  {name}.gz\n")
    if md5sums:
        (site / "md5sums.txt").write_text("".join(lines))


def malformed_h5_gz(tmp):
    import gzip

    raw_shd(tmp / "bad.h5", times=strings(["0.1", "0.2"]))
    mirror(tmp, blobs={"shd_train.h5": gzip.compress((tmp / "bad.h5").read_bytes())})


def cifar_archive(raw=None, cut=None):
    def setup(tmp):
        (tmp / "c").mkdir()
        write_archive(tmp / "c" / "cifar-10-python.tar.gz", make_batches(np.random.default_rng(0)), raw=raw)
        if cut:
            p = tmp / "c" / "cifar-10-python.tar.gz"
            p.write_bytes(p.read_bytes()[: int(len(p.read_bytes()) * cut)])
    return setup


def cifar_folder(name, blob):
    def setup(tmp):
        folder = tmp / "c" / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for n, (d, y) in make_batches(np.random.default_rng(0)).items():
            (folder / n).write_bytes(batch_bytes(d, y) if n != name else blob)
    return setup


def pickled(data, labels):
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=2)


U8 = np.zeros((6, 3072), np.uint8)


def dvs(mutate=None):
    """A small DvsGesture/ tree (two recordings); ``mutate(base)`` then breaks one file."""
    def setup(tmp):
        rng = np.random.default_rng(0)
        base = tmp / "g" / "DvsGesture"
        base.mkdir(parents=True)
        for name, rows in (("user01_led", [(1, 0, 500_000)]), ("user02_lab", [(4, 100_000, 900_000)])):
            write_aedat(base / f"{name}.aedat", *random_recording(rng, 200, 1_000_000))
            write_labels(base / f"{name}_labels.csv", rows)
        (base / "trials_to_train.txt").write_text("user01_led.aedat\n")
        (base / "trials_to_test.txt").write_text("user02_lab.aedat\n")
        if mutate:
            mutate(base)
    return setup


def aedat(blob):
    return dvs(lambda base: (base / "user01_led.aedat").write_bytes(blob))


def labels_csv(text):
    return dvs(lambda base: (base / "user02_lab_labels.csv").write_text(text))


def negative_ts_packet():
    rec = np.zeros(1, dtype=[("data", "<u4"), ("ts", "<i4")])
    rec["data"], rec["ts"] = (3 << 17) | (4 << 2) | 1, -5
    return HEADER + packet(1, rec.tobytes())


def a_file(tmp):
    (tmp / "afile").write_text("x")


def nan_shd(tmp):
    good_shd(tmp / "shd")
    write_shd(tmp / "shd" / "shd_train.h5", [[0.1], [0.2, np.nan]], [[1], [2, 3]], [0, 1])


CSV_HEAD = "class,startTime_usec,endTime_usec\n"
R = "data randman"
S = "data shd --root {tmp}/shd"
SD = "data shd --root {tmp}/new/shd --download"

CASES = [
    # ----------------------------------------------------------------- randman options
    Case("randman-dt-huge", f"{R} --dt 10", ("`--dt`", "10.0")),
    Case("randman-dt-coarse", f"{R} --dt 0.05", ("`--dt`", "at least 10 steps")),
    Case("randman-dt-zero", f"{R} --dt 0", ("`--dt`",)),
    Case("randman-dt-negative", f"{R} --dt -0.002", ("`--dt`",)),
    Case("randman-dt-nan", f"{R} --dt nan", ("`--dt`", "nan")),
    Case("randman-dt-inf", f"{R} --dt inf", ("`--dt`", "inf")),
    Case("randman-dt-tiny", f"{R} --dt 1e-12", ("`--dt`",)),
    Case("randman-dt-text", f"{R} --dt fast", ("--dt", "invalid float")),
    Case("randman-seed-negative", f"{R} --seed -1", ("`--seed`", ">= 0")),
    Case("randman-seed-float", f"{R} --seed 1.5", ("--seed", "invalid int")),
    Case("randman-seed-text", f"{R} --seed abc", ("--seed", "invalid int")),
    Case("randman-cache-file", f"{R} --cache-dir {{tmp}}/afile", ("`--cache-dir`", "an existing file"), a_file),
    Case("randman-cache-root", f"{R} --cache-dir /", ("`--cache-dir`", "file-system root")),
    Case("randman-cache-empty", f"{R} --cache-dir=", ("`--cache-dir`", "empty")),
    Case("randman-cache-under-file", f"{R} --cache-dir {{tmp}}/afile/sub", ("`--cache-dir`", "is a file"), a_file),
    Case("randman-cache-unwritable", f"{R} --cache-dir {{tmp}}/ro/cache", ("`--cache-dir`", "not writable"),
         lambda tmp: (tmp / "ro").mkdir(), deny_write="{tmp}/ro"),
    Case("randman-inapplicable", f"{R} --root {{tmp}}", ("unrecognized arguments", "--root")),
    # ----------------------------------------------------------------- shd options
    Case("shd-dt-huge", f"{S} --dt 10", ("`--dt`", "0.7 s sample"), lambda t: good_shd(t / "shd")),
    Case("shd-dt-zero", f"{S} --dt 0", ("`--dt`",), lambda t: good_shd(t / "shd")),
    Case("shd-dt-nan", f"{S} --dt nan", ("`--dt`",), lambda t: good_shd(t / "shd")),
    Case("shd-root-missing", "data shd --root {tmp}/nope", ("{tmp}/nope", "does not exist", "shd_train.h5")),
    Case("shd-root-file", "data shd --root {tmp}/afile", ("`--root`", "a file"), a_file),
    Case("shd-root-empty", "data shd --root=", ("`--root`", "empty")),
    Case("shd-files-missing", S, ("shd_train.h5", "shd_test.h5", "missing"), lambda t: (t / "shd").mkdir()),
    Case("shd-timeout-no-download", f"{S} --timeout 5", ("`--timeout`", "does not apply")),
    Case("shd-base-url-no-download", f"{S} --base-url http://x/", ("`--base-url`", "does not apply")),
    Case("shd-checksums-no-download", f"{S} --checksums server", ("`--checksums`", "does not apply")),
    Case("shd-checksums-bad", f"{S} --checksums md5", ("--checksums", "invalid choice")),
    Case("shd-download-root-file", "data shd --root {tmp}/afile --download", ("`--root`", "an existing file"), a_file),
    Case("shd-download-root-fs-root", "data shd --root / --download", ("`--root`", "file-system root")),
    Case("shd-download-root-empty", "data shd --root= --download", ("`--root`", "empty")),
    Case("shd-download-root-unwritable", "data shd --root {tmp}/ro/shd --download", ("`--root`", "not writable"),
         lambda tmp: (tmp / "ro").mkdir(), deny_write="{tmp}/ro"),
    Case("shd-download-timeout-zero", f"{SD} --timeout 0", ("`--timeout`",)),
    Case("shd-download-timeout-negative", f"{SD} --timeout -1", ("`--timeout`",)),
    Case("shd-download-timeout-nan", f"{SD} --timeout nan", ("`--timeout`",)),
    Case("shd-download-timeout-huge", f"{SD} --timeout 1e300", ("`--timeout`", "3600")),
    Case("shd-download-url-ftp", f"{SD} --base-url ftp://example.org/", ("`--base-url`", "ftp://")),
    Case("shd-download-url-word", f"{SD} --base-url nonsense", ("`--base-url`", "nonsense")),
    # ----------------------------------------------------------------- shd downloads (a local server)
    Case("shd-download-offline", f"{SD} --base-url {{dead}} --timeout 5", ("could not download", "{tmp}/new/shd"),
         kind="download"),
    Case("shd-download-offline-server-md5", f"{SD} --base-url {{dead}} --checksums server --timeout 5",
         ("could not download",), kind="download"),
    Case("shd-download-404", f"{SD} --base-url {{url}}nothing-here/ --timeout 5", ("could not download", "nothing-here/shd_train.h5.gz", "HTTP 404"),
         mirror, kind="download"),
    Case("shd-download-no-md5sums", f"{SD} --base-url {{url}} --checksums server --timeout 5",
         ("could not download", "md5sums.txt", "HTTP 404"), lambda t: mirror(t, md5sums=False), kind="download"),
    Case("shd-download-pinned-mismatch", f"{SD} --base-url {{url}} --timeout 5",
         ("shd_train.h5.gz", "MD5 checksum mismatch"), mirror, kind="download"),
    Case("shd-download-no-checksum-listed", f"{SD} --base-url {{url}} --checksums server --timeout 5",
         ("shd_train.h5.gz", "no checksum known"), lambda t: mirror(t, only="shd_test.h5"), kind="download"),
    Case("shd-download-corrupt-gzip", f"{SD} --base-url {{url}} --checksums server --timeout 5",
         ("shd_train.h5.gz", "not a valid gzip"),
         lambda t: mirror(t, blobs={"shd_train.h5": b"\x1f\x8b" + b"junk" * 50}), kind="download"),
    Case("shd-download-malformed-h5", f"{SD} --base-url {{url}} --checksums server --timeout 5",
         ("shd_train.h5.gz", "`spikes/times`", "variable-length str"), malformed_h5_gz, kind="download"),
    # ----------------------------------------------------------------- shd malformed files
    Case("shd-times-str", S, ("shd_train.h5", "`spikes/times`", "variable-length float", "got dtype variable-length str"),
         shd_with(times=strings(["0.1", "0.2"])), kind="hdf5"),
    Case("shd-times-int", S, ("shd_train.h5", "`spikes/times`", "variable-length int32"),
         shd_with(times=vlen([[1, 2], [3]], np.int32)), kind="hdf5"),
    Case("shd-times-fixed-2d", S, ("shd_train.h5", "`spikes/times`", "got dtype float32"),
         shd_with(times=plain(np.zeros((2, 3), np.float32))), kind="hdf5"),
    Case("shd-times-group", S, ("shd_train.h5", "`spikes/times` must be a dataset"), shd_with(times=group), kind="hdf5"),
    Case("shd-times-missing", S, ("shd_train.h5", "missing dataset `spikes/times`"), shd_with(times=None), kind="hdf5"),
    Case("shd-units-float", S, ("shd_train.h5", "`spikes/units`", "variable-length float32"),
         shd_with(units=vlen(GOOD_U, np.float32)), kind="hdf5"),
    Case("shd-units-str", S, ("shd_train.h5", "`spikes/units`", "variable-length str"),
         shd_with(units=strings(["1", "2"])), kind="hdf5"),
    Case("shd-units-missing", S, ("shd_train.h5", "missing dataset `spikes/units`"), shd_with(units=None), kind="hdf5"),
    Case("shd-units-range", S, ("shd_train.h5", "[0, 700)", "[1, 700]"),
         shd_with(units=vlen([[1, 700], [3]], np.uint16)), kind="hdf5"),
    Case("shd-units-negative", S, ("shd_train.h5", "[0, 700)", "[-1, 3]"),
         shd_with(units=vlen([[-1, 2], [3]], np.int16)), kind="hdf5"),
    Case("shd-labels-float", S, ("shd_train.h5", "`labels` must hold integers", "float64"),
         shd_with(labels=plain(np.array([0.0, 1.0]))), kind="hdf5"),
    Case("shd-labels-str", S, ("shd_train.h5", "`labels` must hold integers"),
         shd_with(labels=plain(np.array([b"a", b"b"]))), kind="hdf5"),
    Case("shd-labels-vlen", S, ("shd_train.h5", "`labels`", "variable-length uint16"),
         shd_with(labels=vlen([[0], [1]], np.uint16)), kind="hdf5"),
    Case("shd-labels-2d", S, ("shd_train.h5", "`labels` must be 1-D", "(2, 1)"),
         shd_with(labels=plain(np.zeros((2, 1), np.uint16))), kind="hdf5"),
    Case("shd-labels-range", S, ("shd_train.h5", "labels must lie in [0, 20)"),
         shd_with(labels=plain(np.array([0, 20], np.uint16))), kind="hdf5"),
    Case("shd-labels-missing", S, ("shd_train.h5", "missing dataset `labels`"), shd_with(labels=None), kind="hdf5"),
    Case("shd-spikes-dataset", S, ("shd_train.h5", "`spikes` must be a group"), shd_with(spikes="dataset"), kind="hdf5"),
    Case("shd-spikes-missing", S, ("shd_train.h5", "missing group `spikes`"), shd_with(spikes=None), kind="hdf5"),
    Case("shd-length-mismatch", S, ("shd_train.h5", "length mismatch", "3 labels"),
         shd_with(labels=plain(np.array([0, 1, 2], np.uint16))), kind="hdf5"),
    Case("shd-sample-mismatch", S, ("shd_train.h5", "sample 1: 1 spike times but 2 unit indices"),
         shd_with(units=vlen([[1, 2], [3, 4]], np.uint16)), kind="hdf5"),
    Case("shd-times-negative", S, ("shd_train.h5", "sample 1", "finite and >= 0"),
         shd_with(times=vlen([[0.1, 0.2], [-0.3]], np.float32)), kind="hdf5"),
    Case("shd-nan-strict", f"{S} --strict", ("shd_train.h5", "sample 1", "nan"), nan_shd, kind="hdf5"),
    Case("shd-truncated", S, ("shd_train.h5",), shd_bytes("shd_train.h5", lambda b: b[: len(b) // 2]), kind="hdf5"),
    Case("shd-truncated-tail", S, ("shd_train.h5",), shd_bytes("shd_train.h5", lambda b: b[:-200]), kind="hdf5"),
    Case("shd-corrupt-middle", S, ("shd_train.h5",),
         shd_bytes("shd_train.h5", lambda b: b[:2500] + b"\xff" * 1200 + b[3700:]), kind="hdf5"),
    Case("shd-empty-file", S, ("shd_train.h5", "not a readable HDF5 file"), shd_bytes("shd_train.h5", lambda b: b""),
         kind="hdf5"),
    Case("shd-text-file", S, ("shd_test.h5", "not a readable HDF5 file"),
         shd_bytes("shd_test.h5", lambda b: b"time,unit\n0.1,3\n"), kind="hdf5"),
    Case("shd-bad-test-file", S, ("shd_test.h5", "`spikes/times`"), shd_with("shd_test.h5", times=group), kind="hdf5"),
    # ----------------------------------------------------------------- cifar10
    Case("cifar-root-missing", "data cifar10 --root {tmp}/nope", ("{tmp}/nope", "does not exist")),
    Case("cifar-root-file", "data cifar10 --root {tmp}/afile", ("`--root`", "a file"), a_file),
    Case("cifar-root-empty", "data cifar10 --root=", ("`--root`", "empty")),
    Case("cifar-nothing-there", "data cifar10 --root {tmp}/c", ("cifar-10-python.tar.gz", "not found"),
         lambda t: (t / "c").mkdir()),
    Case("cifar-truncated-archive", "data cifar10 --root {tmp}/c", ("cifar-10-python.tar.gz", "truncated or corrupt"),
         cifar_archive(cut=0.5), kind="archive"),
    Case("cifar-truncated-archive-tail", "data cifar10 --root {tmp}/c", ("cifar-10-python.tar.gz",),
         cifar_archive(cut=0.999), kind="archive"),
    Case("cifar-not-gzip", "data cifar10 --root {tmp}/c", ("cifar-10-python.tar.gz", "not a readable tar.gz"),
         lambda t: ((t / "c").mkdir(), (t / "c" / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8bnope")),
         kind="archive"),
    Case("cifar-missing-member", "data cifar10 --root {tmp}/c", ("cifar-10-python.tar.gz", "missing member"),
         lambda t: ((t / "c").mkdir(), write_archive(t / "c" / "cifar-10-python.tar.gz",
                                                    {k: v for k, v in make_batches(np.random.default_rng(0)).items()
                                                     if k != "test_batch"})), kind="archive"),
    Case("cifar-batch-garbage", "data cifar10 --root {tmp}/c", ("data_batch_3", "not a CIFAR-10 python batch"),
         cifar_archive(raw={"data_batch_3": b"garbage"}), kind="pickle"),
    Case("cifar-batch-truncated", "data cifar10 --root {tmp}/c", ("data_batch_3", "not a CIFAR-10 python batch"),
         cifar_archive(raw={"data_batch_3": pickled(U8, [0] * 6)[:-100]}), kind="pickle"),
    Case("cifar-batch-not-dict", "data cifar10 --root {tmp}/c", ("data_batch_3", "expected a pickled dict"),
         cifar_archive(raw={"data_batch_3": pickle.dumps([1, 2])}), kind="pickle"),
    Case("cifar-batch-missing-key", "data cifar10 --root {tmp}/c", ("data_batch_3", "missing key b'labels'"),
         cifar_archive(raw={"data_batch_3": pickle.dumps({b"data": U8}, protocol=2)}), kind="pickle"),
    Case("cifar-data-float", "data cifar10 --root {tmp}/c", ("data_batch_3", "uint8", "float32"),
         cifar_archive(raw={"data_batch_3": pickled(U8.astype(np.float32), [0] * 6)}), kind="pickle"),
    Case("cifar-data-shape", "data cifar10 --root {tmp}/c", ("data_batch_3", "(N, 3072)", "(6, 3, 1024)"),
         cifar_archive(raw={"data_batch_3": pickled(U8.reshape(6, 3, 1024), [0] * 6)}), kind="pickle"),
    Case("cifar-labels-mismatch", "data cifar10 --root {tmp}/c", ("data_batch_3", "6 images but 5 labels"),
         cifar_archive(raw={"data_batch_3": pickled(U8, [0] * 5)}), kind="pickle"),
    Case("cifar-labels-str", "data cifar10 --root {tmp}/c", ("data_batch_3", "labels must be integers", "<U1"),
         cifar_archive(raw={"data_batch_3": pickled(U8, list("abcdef"))}), kind="pickle"),
    Case("cifar-labels-2d", "data cifar10 --root {tmp}/c", ("data_batch_3", "flat list", "(6, 1)"),
         cifar_archive(raw={"data_batch_3": pickled(U8, [[0]] * 6)}), kind="pickle"),
    Case("cifar-labels-ragged", "data cifar10 --root {tmp}/c", ("data_batch_3", "ragged"),
         cifar_archive(raw={"data_batch_3": pickled(U8, [[0], [1, 2]] * 3)}), kind="pickle"),
    Case("cifar-labels-range", "data cifar10 --root {tmp}/c", ("data_batch_3", "[0, 10)", "[0, 10]"),
         cifar_archive(raw={"data_batch_3": pickled(U8, [0, 1, 2, 3, 4, 10])}), kind="pickle"),
    Case("cifar-folder-missing-batch", "data cifar10 --root {tmp}/c", ("data_batch_2", "missing"),
         lambda t: (cifar_folder("x", b"")(t), (t / "c" / "cifar-10-batches-py" / "data_batch_2").unlink()),
         kind="pickle"),
    Case("cifar-folder-truncated", "data cifar10 --root {tmp}/c", ("cifar-10-batches-py/test_batch",),
         cifar_folder("test_batch", pickled(U8, [0] * 6)[:50]), kind="pickle"),
    # ----------------------------------------------------------------- dvs-gesture
    Case("dvs-root-missing", "data dvs-gesture --root {tmp}/nope", ("{tmp}/nope", "does not exist")),
    Case("dvs-root-file", "data dvs-gesture --root {tmp}/afile", ("`--root`", "a file"), a_file),
    Case("dvs-root-empty", "data dvs-gesture --root=", ("`--root`", "empty")),
    Case("dvs-no-lists", "data dvs-gesture --root {tmp}/g", ("trials_to_train.txt", "not found"),
         lambda t: (t / "g").mkdir()),
    Case("dvs-list-path", "data dvs-gesture --root {tmp}/g", ("trials_to_test.txt", "'../x.aedat'"),
         dvs(lambda b: (b / "trials_to_test.txt").write_text("../x.aedat\n")), kind="list"),
    Case("dvs-list-empty", "data dvs-gesture --root {tmp}/g", ("trials_to_test.txt", "lists no recordings"),
         dvs(lambda b: (b / "trials_to_test.txt").write_text("\n\n")), kind="list"),
    Case("dvs-recording-missing", "data dvs-gesture --root {tmp}/g", ("user02_lab.aedat", "missing"),
         dvs(lambda b: (b / "user02_lab.aedat").unlink()), kind="list"),
    Case("dvs-labels-missing", "data dvs-gesture --root {tmp}/g", ("user01_led_labels.csv", "missing"),
         dvs(lambda b: (b / "user01_led_labels.csv").unlink()), kind="list"),
    Case("dvs-aedat-version", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "not an AEDAT 3.1 file"),
         aedat(b"#!AER-DAT2.0\r\n#!END-HEADER\r\n"), kind="aedat"),
    Case("dvs-aedat-empty", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "not an AEDAT 3.1 file"),
         aedat(b""), kind="aedat"),
    Case("dvs-aedat-no-end", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "not terminated"),
         aedat(b"#!AER-DAT3.1\r\n#Format: RAW\r\n"), kind="aedat"),
    Case("dvs-aedat-truncated-header", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "truncated packet header"),
         aedat(HEADER + b"\x01\x00" * 5), kind="aedat"),
    Case("dvs-aedat-truncated-packet", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "truncated packet"),
         aedat(HEADER + packet(1, polarity_events([1, 2], [1, 2], [1, 2], [0, 1]))[:-4]), kind="aedat"),
    Case("dvs-aedat-event-size", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "8 bytes"),
         aedat(HEADER + packet(1, b"\x00" * 12, size=6)), kind="aedat"),
    Case("dvs-aedat-address", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "outside the 128x128 sensor"),
         aedat(HEADER + packet(1, polarity_events([1], [128], [0], [0]))), kind="aedat"),
    Case("dvs-aedat-bad-counts", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "bad packet header"),
         aedat(HEADER + packet(1, polarity_events([1], [1], [1], [0]), number=2)), kind="aedat"),
    Case("dvs-aedat-negative-overflow", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "eventTSOverflow=-1"),
         aedat(HEADER + packet(1, polarity_events([1], [1], [1], [0]), overflow=-1)), kind="aedat"),
    Case("dvs-aedat-negative-ts", "data dvs-gesture --root {tmp}/g", ("user01_led.aedat", "negative timestamp -5"),
         aedat(negative_ts_packet()), kind="aedat"),
    Case("dvs-csv-header", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "first line"),
         labels_csv("cls,start,end\n1,0,10\n"), kind="csv"),
    Case("dvs-csv-empty", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "first line"),
         labels_csv(""), kind="csv"),
    Case("dvs-csv-class", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "line 2", "1..11"),
         labels_csv(CSV_HEAD + "12,0,10\n"), kind="csv"),
    Case("dvs-csv-order", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "line 3", "start < end"),
         labels_csv(CSV_HEAD + "1,0,10\n2,10,5\n"), kind="csv"),
    Case("dvs-csv-text", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "three integers"),
         labels_csv(CSV_HEAD + "1,a,10\n"), kind="csv"),
    Case("dvs-csv-columns", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "three integers"),
         labels_csv(CSV_HEAD + "1,0\n"), kind="csv"),
    Case("dvs-csv-huge", "data dvs-gesture --root {tmp}/g", ("user02_lab_labels.csv", "line 2", "at most"),
         labels_csv(CSV_HEAD + "1,0," + "9" * 30 + "\n"), kind="csv"),
]


def _tree(root: Path) -> dict:
    """Every path under ``root``: folders, and files with their size and modification time (a
    folder's own time changes when something is created in it and removed again)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[str((Path(dirpath) / name).relative_to(root))] = "folder"
        for name in filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _run(argv):
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        return exc.code


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    tmp = tmp_path / "w"
    tmp.mkdir()
    if case.setup is not None:
        case.setup(tmp)
    if case.deny_write is not None:
        denied = case.deny_write.format(tmp=tmp)
        real = os.access

        def access(path, mode, *a, **kw):
            if mode & os.W_OK and os.path.abspath(path).startswith(denied):
                return False
            return real(path, mode, *a, **kw)

        monkeypatch.setattr(os, "access", access)
    before = _tree(tmp_path)
    with serve(tmp / "site") if "{url}" in case.argv else _nothing() as url:
        dead = None
        if "{dead}" in case.argv:
            with serve(tmp_path) as dead:
                pass  # closed again: connections to that port are refused
        argv = [a.format(tmp=tmp, url=url, dead=dead) for a in case.argv.split(" ")]
        rc = _run(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    for s in case.expect:
        assert s.format(tmp=tmp) in err, (s, err)
    assert "Traceback" not in err and out == ""
    assert _tree(tmp_path) == before  # nothing created, changed or removed


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_the_table_covers_every_command_and_file_kind():
    """The tally reported for this work: cases per command and per kind of input."""
    commands = {c.argv.split(" ")[1] for c in CASES}
    kinds = {c.kind for c in CASES}
    assert commands == {"shd", "randman", "cifar10", "dvs-gesture"}
    assert {"option", "download", "hdf5", "archive", "pickle", "list", "aedat", "csv"} <= kinds
    assert len({c.id for c in CASES}) == len(CASES)
