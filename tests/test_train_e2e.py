"""Every named experiment, shrunk, trained end to end on small generated data in the real formats.

The generated data are learnable by construction (the class sets where, in the input, activity
appears); each shrunk run must lower its training loss and end above chance.  Data files are
written exactly in the official formats the loaders read: SHD HDF5 (``spikes/times``,
``spikes/units``, ``labels``; FSDD's converted files in the same layout), the CIFAR-10 python archive (pickled batches in a tar.gz) and
the DVS-Gesture layout (AEDAT 3.1 recordings, ``_labels.csv`` files, trial lists).

Chance level: the generated sets use ``N_CLASSES`` classes, so chance is ``1/N_CLASSES``; the
final training accuracy (``n`` samples) must exceed it by three binomial standard errors,
``sqrt(p (1 - p) / n)`` at ``p = 1/N_CLASSES``.
"""

from __future__ import annotations

import copy
import io
import math
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from fluctinit.training.experiments import list_experiments, load_experiment
from fluctinit.training import train_experiment

N_CLASSES = 4
N_SAMPLES = {"shd": 96, "fsdd": 96, "cifar10": 96, "dvs_gesture": 64, "randman": 0}


# ----------------------------------------------------------------------------- file writers
def write_spike_files(root, names, n_train, n_test=32, duration=0.04, seed=0, attrs=None):
    """Train and test files ``names`` in SHD's HDF5 layout (fluctinit.datasets.write_spike_file):
    class c drives units [175 c, 175 c + 175) at ~150 Hz, the others at ~5 Hz."""
    from fluctinit.datasets import write_spike_file

    rng = np.random.default_rng(seed)
    for name, n in zip(names, (n_train, n_test)):
        labels = np.arange(n) % N_CLASSES
        times, units = [], []
        for c in labels:
            rate = np.full(700, 5.0)
            rate[175 * c : 175 * (c + 1)] = 150.0
            counts = rng.poisson(rate * duration)
            u = np.repeat(np.arange(700), counts)
            t = rng.uniform(0, duration, size=u.size)
            order = np.argsort(t)
            times.append(t[order])
            units.append(u[order])
        write_spike_file(root / name, times, units, labels, attrs=attrs)


def write_shd(root, n_train=N_SAMPLES["shd"], **kwargs):
    """SHD's files (shd_train.h5, shd_test.h5): :func:`write_spike_files`."""
    write_spike_files(root, ("shd_train.h5", "shd_test.h5"), n_train, **kwargs)


def write_fsdd(root, n_train=N_SAMPLES["fsdd"], channels=700, **kwargs):
    """FSDD's converted files (fsdd_train.h5, fsdd_test.h5, attribute ``channels``) with the
    generated classes of :func:`write_spike_files` (labels 0..N_CLASSES-1 of FSDD's ten)."""
    from fluctinit.datasets import FSDD_FILES

    write_spike_files(root, (FSDD_FILES["train"], FSDD_FILES["test"]), n_train, attrs={"channels": channels},
                      **kwargs)


def write_cifar(root, n_per_batch=N_SAMPLES["cifar10"] // 5 + 1, seed=0):
    """cifar-10-python.tar.gz: class c (0-2) has a bright colour channel c, class 3 is dark."""
    rng = np.random.default_rng(seed)

    def batch(n):
        labels = np.arange(n) % N_CLASSES
        img = rng.integers(0, 60, size=(n, 3, 32, 32))
        for i, c in enumerate(labels):
            if c < 3:
                img[i, c] += 190
        return {b"data": img.astype(np.uint8).reshape(n, 3072), b"labels": labels.tolist()}

    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, n in [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", 20)]:
            raw = pickle.dumps(batch(n), protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def _aedat(events_t, x, y, p) -> bytes:
    """An AEDAT 3.1 file with one polarity packet (layout as in datasets/dvs_gesture.py's docstring)."""
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"
    n = len(events_t)
    data = (x.astype(np.uint32) << 17) | (y.astype(np.uint32) << 2) | (p.astype(np.uint32) << 1) | 1
    ev = np.empty(n, dtype=[("data", "<u4"), ("ts", "<i4")])
    ev["data"], ev["ts"] = data, events_t
    return head + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n) + ev.tobytes()


def write_dvs(root, n_train=N_SAMPLES["dvs_gesture"], n_test=16, length_us=60_000, seed=0):
    """DvsGesture/ layout: class c puts its events in quadrant c of the 128x128 sensor."""
    rng = np.random.default_rng(seed)
    base = root / "DvsGesture"
    base.mkdir()
    for split, n in (("train", n_train), ("test", n_test)):
        names = []
        per_file = 8
        for f in range(math.ceil(n / per_file)):
            name = f"user{len(names) + (0 if split == 'train' else 50):02d}_{split}{f}.aedat"
            names.append(name)
            ts, xs, ys, ps, rows = [], [], [], [], []
            for k in range(per_file):
                c = (f * per_file + k) % N_CLASSES
                start = k * (length_us + 10_000) + 1_000
                m = 1500
                ts.append(np.sort(rng.integers(start, start + length_us, size=m)))
                xs.append(rng.integers(0, 64, size=m) + 64 * (c % 2))
                ys.append(rng.integers(0, 64, size=m) + 64 * (c // 2))
                ps.append(rng.integers(0, 2, size=m))
                rows.append(f"{c + 1},{start},{start + length_us}")
            (base / name).write_bytes(
                _aedat(np.concatenate(ts), np.concatenate(xs), np.concatenate(ys), np.concatenate(ps))
            )
            (base / name.replace(".aedat", "_labels.csv")).write_text(
                "class,startTime_usec,endTime_usec\n" + "\n".join(rows) + "\n"
            )
        (base / f"trials_to_{split}.txt").write_text("\n".join(names) + "\n")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_data")
    write_shd(root)
    write_fsdd(root)
    write_cifar(root)
    write_dvs(root)
    return root


# ----------------------------------------------------------------------------- shrinking
#: Shrunk variants that learn within the default-test time budget; the others (deep nets
#: need longer trials -- activity takes two steps per layer to reach the readout -- and
#: CIFAR-10/DVS-Gesture 2-D nets are costly on a CPU) run with `-m slow`.
FAST = {
    "randman-ff", "shd-ff", "shd-rec-128", "shd-rec-160", "shd-dale", "shd-conv1-ff",
    "shd-conv1-rec", "shd-conv3-ff", "shd-conv3-skip", "shd-conv3-hom", "shd-conv3-priming",
    "shd-conv3-skip-hom",
    "fsdd-ff",
}
# (the FSDD conv nets, initialized for FSDD's 104.8 Hz rather than SHD's 15.8, are quieter than SHD's on these
# data: in 20-step trials no spike reaches the readout of fsdd-conv3, so they run as slow variants)


def shrink(config: dict, big: bool = False) -> dict:
    """A small, fast variant of an experiment that keeps its structure (kind, recurrence, Dale's
    law, skip connections, pooling, encoder, homeostasis/priming, optimizer).  ``big``: wider
    layers and longer trials, for the deep variants."""
    c = copy.deepcopy(config)
    d, net, tr = c["data"], c["network"], c["training"]
    n = len(net["hidden"])
    tr.update(epochs=6 if big else 4, lr=0.02 if big else 0.05, lambda_upper=0.01)
    if tr["homeostasis"] == "priming":
        tr["priming_epochs"] = 1
    if tr["homeostasis"] != "off":
        tr["lambda_lower"] = 0.1  # with trials this short the paper-scale term swamps L_sup
    ch = (16 if n >= 7 else 8) if big else 4
    if big and n >= 8:
        tr["epochs"] = 10
        if d["dataset"] == "dvs_gesture":
            tr["lr"] = 0.005  # 16 x 8 layers: at 0.02 the loss jumps around
    if d["dataset"] == "randman":
        d.update(samples_per_class=30, split=[24, 3, 3])
        tr.update(batch_size=60)
        net["hidden"] = [24]
    elif d["dataset"] in ("shd", "fsdd"):  # FSDD: SHD's layout and sizes
        d.update(duration=0.04 + (0.012 * n if big else 0.0), validation_fraction=0.125)
        if d["dataset"] == "fsdd":
            # sized for the tiny files' own rate: the config's 104.8 Hz (real FSDD) leaves the
            # shrunk conv nets silent on these files, a test of the data, not of the pipeline
            c["init"]["nu"] = "measured"
        tr.update(batch_size=28)
        if net["kind"] == "dense":
            net["hidden"] = [16]
            if net.get("dale"):
                net["n_inh"] = [4]
        else:
            net["hidden"] = [ch] * n
            if net.get("dale"):
                net["n_inh"] = [max(ch // 4, 1)] * n
    elif d["dataset"] == "cifar10":
        d.update(duration=(0.06 if n <= 2 else 0.1) if big else 0.02, validation_fraction=0.2)
        tr.update(batch_size=32)
        if big and n >= 4:
            # 6 epochs at lr 0.02 was marginal for the 4-layer nets: which float32 rounding the
            # backend used decided pass or fail (both backends are equal in float64); 12 epochs
            # at lr 0.01 ended at 0.48 (reference) and 0.53 (fused) against a bound of 0.40.
            tr.update(epochs=12, lr=0.01)
        net["hidden"] = [ch] * n
        c["init"]["nu"] = "measured"
    else:
        d.update(duration=0.05 + 0.012 * n if big else 0.02, size=16, validation_fraction=0.125)
        tr.update(batch_size=16)
        net["hidden"] = [ch] * n
        net["n_in"] = [16, 16]
    net["tau_out"] = d["duration"]
    return c


def _check_learned(r, config):
    sup = [h for h in r["history"] if h["phase"] == "supervised"]
    assert len(sup) == config["training"]["epochs"]
    assert sup[-1]["train_sup_loss"] < sup[0]["train_sup_loss"]
    ds = config["data"]["dataset"]
    n_train = N_SAMPLES[ds] or 240
    n_train = int(n_train * (1 - config["data"].get("validation_fraction", 0.1)))
    p = 1.0 / (N_CLASSES if ds != "randman" else 10)
    assert r["final"]["train_accuracy"] > p + 3 * math.sqrt(p * (1 - p) / n_train)
    n_layers = len(config["network"]["hidden"])
    assert len(r["recording"]["at_init"]["rates_hz"]) == n_layers
    assert len(r["recording"]["at_init"]["sg_magnitude"]) == n_layers + 1


EXPERIMENTS = list_experiments()
#: Shrunk variants that cannot learn because no spike reaches their readout at initialization
#: (every gradient 0).  None at present: initialized for the tiny files' own rate, the shrunk
#: fsdd-conv7 learns.  At the real FSDD files' 104.8 Hz the full fsdd-conv7 is silent from its
#: fifth layer on (docs/fsdd.md), a property of the data's rate, not of the pipeline.
SILENT_AT_INIT: set[str] = set()


def _marks(name: str) -> list:
    silent = pytest.mark.xfail(strict=True, reason="no spike reaches the readout at initialization")
    return [pytest.mark.slow] + ([silent] if name in SILENT_AT_INIT else [])


@pytest.mark.parametrize(
    "name", [n if n in FAST else pytest.param(n, marks=_marks(n)) for n in EXPERIMENTS]
)
def test_shrunk_experiment_learns(name, data_root, tmp_path, one_thread):
    config = shrink(load_experiment(name), big=name not in FAST)
    r = train_experiment(config, seed=0, data_root=data_root, out=tmp_path, progress=False)
    _check_learned(r, config)
    assert (tmp_path / f"{name}_fluctuation-sigma1_seed0.json").is_file()
    if config["training"]["homeostasis"] == "priming":
        assert [h["phase"] for h in r["history"]][:2] == ["priming", "supervised"]
        # priming optimizes L_HP alone, which does not depend on the readout: it stays put
        assert r["history"][0]["dw_magnitude"][-1] == 0.0 < r["history"][1]["dw_magnitude"][-1]
        assert r["history"][0]["dw_magnitude"][0] > 0.0
    if config["network"].get("dale"):
        # Dale's law kept during training: hidden weights >= 0, readout unconstrained.
        state = torch.load(tmp_path / f"{name}_fluctuation-sigma1_seed0.ckpt", weights_only=False)["model"]
        hidden = {k: v for k, v in state.items() if k.startswith("network.hidden.")}
        assert hidden and all(bool((v >= 0).all()) for v in hidden.values())
        assert any(bool((v < 0).any()) for k, v in state.items() if k.startswith("network.readout."))


@pytest.mark.parametrize("name", ["cifar10-conv2", "dvs-conv6"])
def test_image_and_event_pipelines_run(name, data_root, tmp_path, one_thread):
    # Fast smoke run of the 2-D pipelines (loader, encoder, pooling, recording); learning is
    # checked by the slow variants above.
    config = shrink(load_experiment(name))
    config["training"]["epochs"] = 1
    r = train_experiment(config, seed=0, data_root=data_root, out=tmp_path, progress=False)
    assert math.isfinite(r["history"][0]["train_loss"])
    assert 0.0 <= r["final"]["test_accuracy"] <= 1.0
    assert len(r["history"][0]["rates_hz"]) == len(config["network"]["hidden"])
    if name.startswith("cifar"):
        assert r["nu_hz"] > 0  # measured from the encoder, as the paper does (14.3 Hz there)
