"""Grid-batched training (training/batched.py, training/stacked.py) against separate runs.

The reference is train_experiment itself: K cells trained as one batched model must give each
cell what its separate run gives (float64: to 1e-8 relative, rounding of other summation
orders), write the same files, and resume either way.
"""

import copy
import json

import pytest
import torch

from fluctinit.errors import ParameterError
from fluctinit.training import (
    batch_key, load_data, load_experiment, max_batch_cells, read_checkpoint, run_name, train_batched,
    train_experiment,
)

SEED = 1
#: relative tolerance of float64 comparisons: the batched model sums in other orders (grouped
#: products, K losses), so equal results agree to rounding, ~1e-15
RTOL = 1e-8
TIMINGS = ("elapsed_s", "time_s")


def _tiny(hidden):
    c = load_experiment("randman-ff")
    c["data"].update(samples_per_class=20, split=[16, 2, 2])
    c["training"].update(batch_size=40, lr=0.02)
    c["network"]["hidden"] = hidden
    return c


def _cells(base, epochs):
    """Three cells differing in their initialization only: two normal inits and one fluctuation."""
    out = []
    for init in ({"method": "normal", "mu_w": 0.5, "sigma_w": 2.0}, {"method": "normal", "mu_w": -0.3, "sigma_w": 3.0},
                 {"method": "fluctuation", "sigma_u": 1.5}):
        c = copy.deepcopy(base)
        c["init"] = {**c["init"], **init}
        c["training"]["epochs"] = epochs
        out.append(c)
    return out


def _close(a, b, path="results"):
    """Equal structures, floats to RTOL (relative), timings skipped; returns the paths that differ."""
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a if k not in TIMINGS for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, torch.Tensor):
        ok = a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=RTOL, atol=0)
        return [] if ok else [f"{path}: tensors differ"]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= RTOL * max(abs(a), abs(b)) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _separate(cells, data, out, dtype=torch.float64):
    return [train_experiment(c, seed=SEED, data=data, out=out, progress=False, dtype=dtype) for c in cells]


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def one_layer(tmp_path_factory, one_thread):
    """The tiny Randman network, its float64 data, and separate 4-epoch runs of three cells."""
    base = _tiny([16])
    data = load_data(base, dtype=torch.float64)
    out = tmp_path_factory.mktemp("separate")
    return base, data, out, _separate(_cells(base, 4), data, out)


def _ckpt(folder, result):
    return read_checkpoint(folder / f"{run_name(result['config'], SEED)}.ckpt")


def _stored(folder, result):
    return json.loads((folder / f"{run_name(result['config'], SEED)}.json").read_text())


def _assert_same_runs(folder_a, results_a, folder_b, results_b):
    for ra, rb in zip(results_a, results_b):
        assert _close(ra, rb) == []
        ca, cb = _ckpt(folder_a, ra), _ckpt(folder_b, rb)
        assert _close({k: ca[k] for k in ("config", "seed", "epoch", "model", "optimizer", "history")},
                      {k: cb[k] for k in ("config", "seed", "epoch", "model", "optimizer", "history")}) == []


# ----------------------------------------------------------------------------- the batched model
@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_readout_is_the_free_current_driven_neuron(backend):
    """readout([x], [W]) == lif_current(x W^T) in mode "free" with tau_mem = tau_out, values and
    the gradient of W (the batched readout rests on it)."""
    from fluctinit.sim import NeuronParams, ReadoutParams, dispatch

    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 50, 30, generator=gen) < 0.1).double()
    w = torch.randn(10, 30, dtype=torch.float64, generator=gen, requires_grad=True)
    g = torch.randn(3, 50, 10, dtype=torch.float64, generator=gen)
    u1 = dispatch("readout", backend)([x], [w], params=ReadoutParams(tau_out=0.2, tau_syn=0.01, dt=2e-3))
    (gw1,) = torch.autograd.grad((u1 * g).sum(), [w])
    free = NeuronParams(tau_mem=0.2, tau_syn=0.01, dt=2e-3, mode="free")
    _, u2 = dispatch("lif_current", backend)(x @ w.T, params=free)
    (gw2,) = torch.autograd.grad((u2 * g).sum(), [w])
    assert u1.abs().max() > 0.1 and gw1.abs().max() > 0.1
    torch.testing.assert_close(u2, u1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw2, gw1, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- equal to separate runs
def test_float64_batched_equals_separate_runs(one_layer, tmp_path, one_thread):
    base, data, sep_out, separate = one_layer
    cells = _cells(base, 4)
    batched = train_batched(cells, seed=SEED, outs=[tmp_path] * 3, data=data, progress=False, dtype=torch.float64)
    assert _files(tmp_path) == _files(sep_out)  # the same files, by name
    _assert_same_runs(sep_out, separate, tmp_path, batched)
    for r in batched:  # and the JSON on disk is what was returned
        assert _stored(tmp_path, r) == r
    # the comparison can fail: the cells are active and differ from each other
    assert all(r["history"][0]["rates_hz"][0] > 0.5 for r in separate)
    assert len({r["history"][-1]["train_loss"] for r in batched}) == 3


@pytest.mark.parametrize("kernels", ["compiled", "torch_ops"])
def test_float64_two_hidden_layers(kernels, tmp_path, one_thread, monkeypatch):
    """Also on the path CUDA runs ("torch_ops": the fast core's torch-op step, no compiled
    kernels, no gradient probes)."""
    from fluctinit.sim._core import compiled

    if kernels == "torch_ops":
        monkeypatch.setattr(compiled, "AVAILABLE", False)
    base = _tiny([16, 12])
    data = load_data(base, dtype=torch.float64)
    cells = _cells(base, 3)
    separate = _separate(cells, data, tmp_path / "a")
    batched = train_batched(cells, seed=SEED, outs=[tmp_path / "b"] * 3, data=data, progress=False,
                            dtype=torch.float64)
    _assert_same_runs(tmp_path / "a", separate, tmp_path / "b", batched)
    assert len(batched[0]["history"][0]["rates_hz"]) == 2 and len(batched[0]["history"][0]["dw_magnitude"]) == 3
    assert all(r["history"][0]["rates_hz"][1] > 0 for r in separate)


def test_float32_accuracies_equal_separate_runs(tmp_path, one_thread):
    """float32: the sums run in other orders, so the values differ by rounding (2**-24 relative per
    operation; measured: losses 1e-8 apart after 3 epochs).  A prediction flips only where a
    readout maximum ties within that margin; the tolerance allows one flipped sample per split
    (1/20 here) and 1e-4 relative in the losses."""
    base = _tiny([16])
    data = load_data(base)
    cells = _cells(base, 3)
    separate = [train_experiment(c, seed=SEED, data=data, out=tmp_path / "a", progress=False) for c in cells]
    batched = train_batched(cells, seed=SEED, outs=[tmp_path / "b"] * 3, data=data, progress=False)
    one = 1 / 20
    for s, b in zip(separate, batched):
        for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
            assert abs(s["final"][key] - b["final"][key]) <= one + 1e-12, key
        for hs, hb in zip(s["history"], b["history"]):
            assert abs(hs["valid_accuracy"] - hb["valid_accuracy"]) <= one + 1e-12
            assert hb["train_loss"] == pytest.approx(hs["train_loss"], rel=1e-4)


# ----------------------------------------------------------------------------- checkpoints and resume
def test_batched_checkpoints_resume_with_train_experiment(one_layer, tmp_path, one_thread):
    base, data, sep_out, separate = one_layer
    train_batched(_cells(base, 2), seed=SEED, outs=[tmp_path] * 3, data=data, progress=False, dtype=torch.float64)
    resumed = [train_experiment(c, seed=SEED, data=data, out=tmp_path, progress=False, dtype=torch.float64,
                                resume=True) for c in _cells(base, 4)]
    _assert_same_runs(sep_out, separate, tmp_path, resumed)


def test_batched_resume_after_an_interruption_equals_straight(one_layer, tmp_path, one_thread):
    base, data, sep_out, separate = one_layer
    outs = [tmp_path / "x", tmp_path / "y", tmp_path / "x"]  # folders may differ and repeat
    train_batched(_cells(base, 2), seed=SEED, outs=outs, data=data, progress=False, dtype=torch.float64)
    with pytest.raises(ParameterError, match="`out`"):  # refused without resume or overwrite, as a run is
        train_batched(_cells(base, 4), seed=SEED, outs=outs, data=data, progress=False, dtype=torch.float64)
    resumed = train_batched(_cells(base, 4), seed=SEED, outs=outs, data=data, progress=False, dtype=torch.float64,
                            resume=True)
    for k, out in enumerate(outs):
        _assert_same_runs(sep_out, separate[k:k + 1], out, resumed[k:k + 1])


def test_lagging_and_finished_cells_resume_to_the_separate_result(one_layer, tmp_path, one_thread):
    """A kill between two cells' checkpoint saves leaves them at different epochs: cell 0 finished,
    cell 1 at epoch 3, cell 2 at epoch 1; resume brings them level, then trains the rest."""
    base, data, sep_out, separate = one_layer
    kw = dict(seed=SEED, data=data, out=tmp_path, progress=False, dtype=torch.float64)
    c4, c3, c1 = _cells(base, 4), _cells(base, 3), _cells(base, 1)
    train_experiment(c4[0], **kw)
    train_batched([c3[1]], seed=SEED, outs=[tmp_path], data=data, progress=False, dtype=torch.float64)
    train_experiment(c1[2], **kw)
    stored = _stored(tmp_path, separate[0])
    resumed = train_batched(c4, seed=SEED, outs=[tmp_path] * 3, data=data, progress=False, dtype=torch.float64,
                            resume=True)
    assert resumed[0] == stored  # returned as stored, not trained again
    _assert_same_runs(sep_out, separate, tmp_path, resumed)


# ----------------------------------------------------------------------------- the key and refusals
def test_batch_key_groups_cells_that_differ_in_init_alone():
    base = _tiny([16])
    keys = {batch_key(c, SEED) for c in _cells(base, base["training"]["epochs"])}
    kaiming = copy.deepcopy(base)
    kaiming["init"] = {"method": "kaiming", "nu": 5.0}
    renamed = dict(copy.deepcopy(base), name="other", description="another label")
    keys |= {batch_key(kaiming, SEED), batch_key(renamed, SEED)}
    assert len(keys) == 1 and None not in keys
    changed = []
    for path, value in (("training.lr", 0.1), ("network.hidden", [32]), ("training.epochs", 7),
                        ("data.seed", 5), ("training.optimizer", "adam")):
        c = copy.deepcopy(base)
        section, key = path.split(".")
        c[section][key] = value
        changed.append(batch_key(c, SEED))
    changed += [batch_key(base, SEED + 1), batch_key(load_experiment("shd-ff"), SEED)]
    assert None not in changed and len(set(changed) | keys) == len(changed) + 1


@pytest.mark.parametrize("change", ["dale", "recurrent", "skip", "conv"])
def test_batch_key_is_none_for_networks_that_do_not_batch(change):
    if change == "dale":
        c = load_experiment("shd-dale")
    elif change == "conv":
        c = load_experiment("shd-conv3-ff")
    else:
        c = _tiny([16, 8])
        c["network"][change] = True
    assert batch_key(c, SEED) is None


def _no_data(monkeypatch):
    import fluctinit.training.batched as B

    def refuse(*a, **k):
        raise AssertionError("data were loaded")

    monkeypatch.setattr(B, "load_data", refuse)


def test_refusals_name_the_problem_before_any_data(tmp_path, monkeypatch):
    _no_data(monkeypatch)
    cells = _cells(_tiny([16]), 2)
    with pytest.raises(ParameterError, match="`outs` must name one output folder per config") as err:
        train_batched(cells, seed=SEED, outs=[tmp_path] * 2)
    assert "got 2" in str(err.value)
    with pytest.raises(ParameterError, match="`outs`"):
        train_batched([], seed=SEED, outs=[])
    other = copy.deepcopy(cells[1])
    other["training"]["lr"] = 0.1
    with pytest.raises(ParameterError, match=r"share one batch_key .*training\.lr 0\.02 -> 0\.1"):
        train_batched([cells[0], other], seed=SEED, outs=[tmp_path] * 2)
    rec = copy.deepcopy(cells[0])
    rec["network"]["recurrent"] = True
    with pytest.raises(ParameterError, match=r"`configs\[1\]` must be a network that batches; .*recurrent"):
        train_batched([cells[0], rec], seed=SEED, outs=[tmp_path] * 2)
    with pytest.raises(ParameterError, match="must be distinct runs"):
        train_batched([cells[0], cells[0]], seed=SEED, outs=[tmp_path, tmp_path / "."])
    assert list(tmp_path.iterdir()) == []


def test_max_batch_cells_follows_the_memory_budget():
    c = load_experiment("randman-ff")
    default = max_batch_cells(c)
    assert isinstance(default, int) and default >= 1
    big = max_batch_cells(c, memory_bytes=8 * 2**30)
    small = max_batch_cells(c, memory_bytes=2**30)
    assert big > small >= 1
    assert max_batch_cells(c, memory_bytes=0) == 1
    assert max_batch_cells(c, memory_bytes=2**30, dtype=torch.float64) < small
    with pytest.raises(ParameterError, match="`memory_bytes`"):
        max_batch_cells(c, memory_bytes=-1)

