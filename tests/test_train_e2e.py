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
import math

import pytest
import torch

from fluctinit.datasets import standin
from fluctinit.training.experiments import list_experiments, load_experiment
from fluctinit.training import train_experiment

N_CLASSES = 4
N_SAMPLES = {"shd": 96, "fsdd": 96, "cifar10": 96, "dvs_gesture": 64, "randman": 0}


# ----------------------------------------------------------------------------- file writers
def write_spike_files(root, names, n_train, n_test=32, **kwargs):
    """Train and test files ``names`` in SHD's HDF5 layout (:func:`fluctinit.datasets.standin.write_spike_files`):
    class c drives units [175 c, 175 c + 175) at ~150 Hz, the others at ~5 Hz."""
    standin.write_spike_files(root, names, n_train, n_test, n_classes=N_CLASSES, **kwargs)


def write_shd(root, n_train=N_SAMPLES["shd"], **kwargs):
    """SHD's files (shd_train.h5, shd_test.h5): :func:`write_spike_files`."""
    standin.write_shd_standin(root, n_train, n_classes=N_CLASSES, **kwargs)


def write_fsdd(root, n_train=N_SAMPLES["fsdd"], channels=700, **kwargs):
    """FSDD's converted files (fsdd_train.h5, fsdd_test.h5, attribute ``channels``) with the
    generated classes of :func:`write_spike_files` (labels 0..N_CLASSES-1 of FSDD's ten)."""
    from fluctinit.datasets import FSDD_FILES

    write_spike_files(root, (FSDD_FILES["train"], FSDD_FILES["test"]), n_train, attrs={"channels": channels},
                      **kwargs)


def write_cifar(root, n_per_batch=N_SAMPLES["cifar10"] // 5 + 1, seed=0):
    """cifar-10-python.tar.gz: class c (0-2) has a bright colour channel c, class 3 is dark."""
    standin.write_cifar10_standin(root, n_per_batch, n_classes=N_CLASSES, seed=seed)


def write_dvs(root, n_train=N_SAMPLES["dvs_gesture"], n_test=16, length_us=60_000, seed=0):
    """DvsGesture/ layout: class c puts its events in quadrant c of the 128x128 sensor."""
    standin.write_dvs_gesture_standin(root, n_train, n_test, length_us=length_us, n_classes=N_CLASSES, seed=seed)


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
