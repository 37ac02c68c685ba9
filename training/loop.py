"""Surrogate-gradient training of the paper's networks (section 4.2, tables 4-6).

One call, :func:`train_experiment`, runs a named experiment (training/experiments/*.json) for
one seed: build the network (sim layers), initialize it from the theory (sim's
``init_network_``: fluctuation-driven with target ``sigma_u``/``alpha``, or Kaiming), and train
with BPTT through the surrogate (SuperSpike beta = 20, eq. 28, or its rescaled form, eq. 29)
on

    L = L_sup (eqs. 20-21) + L_UB (eqs. 22-23) [+ L_HP (eqs. 24-25) if homeostasis is on]

(regularizer signs fixed, see :mod:`fluctinit.training.losses`), with SMORMS3 (eqs. 30-33),
Adam or SGD.  Dale's-law weights are projected onto >= 0 after every step (readout
unconstrained).  With ``homeostasis = "priming"`` the first ``priming_epochs`` epochs optimize
``L_HP`` alone (homeostatic priming, figure 5c), then supervised training starts without it.

Every epoch writes a checkpoint atomically (model, optimizer, RNG states, history); ``resume``
continues an interrupted run exactly: the data order of epoch ``e`` is drawn from a generator
seeded by ``(seed, e)`` and nothing else in training is random, so 2 epochs straight and
1 + resume 1 give identical weights (tests/test_train_resume.py).  The results JSON (config,
seed, code version, per-epoch history, final train/validation/test accuracy, recorded
magnitudes) is written atomically too.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from fluctinit._io import atomic_path, atomic_write_json
from fluctinit.provenance import code_version
from fluctinit.errors import ParameterError

from . import experiments as _exp
from .losses import (
    homeostatic_from_counts,
    max_over_time_cross_entropy,
    spike_counts,
    upper_bound_from_counts,
    v_upper_for_rate,
)
from .optim import make_optimizer
from .recording import GradientRecorder, epochs_to_accuracy, firing_rates_from_counts, snapshot, weight_update_magnitudes

__all__ = [
    "SNNModel",
    "ModelOutput",
    "Splits",
    "TensorSplit",
    "build_model",
    "load_data",
    "initialize_model",
    "run_name",
    "train_experiment",
    "atomic_torch_save",
]


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` to ``path`` atomically (temp file, then ``os.replace``)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# ----------------------------------------------------------------------------- model
@dataclass
class ModelOutput:
    """What :class:`SNNModel` returns.

    Attributes:
        readout: readout membranes ``(batch, time, n_out)``.
        layer_spikes: per hidden layer, all its neurons' spikes flattened to
            ``(batch, time, M)`` (Dale layers: E and I populations concatenated) -- what the
            regularizers and rate measurements see.
        outputs: the tensors whose gradients are recorded as "surrogate-gradient magnitude"
            (each hidden layer's output spikes, then the readout membrane).
        encoder_spikes: the CIFAR-10 encoder's spikes, or None.
        layer_counts: per hidden layer, the spike counts ``(batch, M)`` of ``layer_spikes``
            (:func:`fluctinit.training.losses.spike_counts`).
    """

    readout: torch.Tensor
    layer_spikes: list[torch.Tensor]
    outputs: list[torch.Tensor]
    encoder_spikes: torch.Tensor | None = None
    layer_counts: list[torch.Tensor] | None = None


class SNNModel(torch.nn.Module):
    """A sim ``Network`` with an optional sensory encoder in front (CIFAR-10).

    ``forward(x)``: ``x`` is ``(batch, time, *input_shape)`` spikes, or ``(batch, C, H, W)``
    images when an encoder is present; returns a :class:`ModelOutput`.
    """

    def __init__(self, network: torch.nn.Module, encoder: torch.nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.network = network

    def forward(self, x: torch.Tensor) -> ModelOutput:
        enc = None
        if self.encoder is not None:
            enc = self.encoder(x)
            x = enc
        shape = tuple(self.network.input_shape)
        if tuple(x.shape[2:]) != shape and x.dim() >= 3 and math.prod(x.shape[2:]) == math.prod(shape):
            x = x.reshape(*x.shape[:2], *shape)  # e.g. SHD (batch, time, 700) -> (batch, time, 1, 700)
        out = self.network(x)
        layer_spikes, layer_counts = [], []
        for rec in out.layers:
            s, c = rec.spikes.flatten(2), spike_counts(rec.spikes)
            if rec.spikes_inh is not None:
                s = torch.cat([s, rec.spikes_inh.flatten(2)], dim=2)
                c = torch.cat([c, spike_counts(rec.spikes_inh)], dim=1)
            layer_spikes.append(s)
            layer_counts.append(c)
        outputs = [rec.spikes for rec in out.layers] + [out.output]
        return ModelOutput(out.output, layer_spikes, outputs, enc, layer_counts)

    @torch.no_grad()
    def apply_constraints_(self) -> None:
        """Dale's law: clip sign-constrained weights to >= 0 (readout and encoder untouched)."""
        self.network.apply_constraints_()


def build_model(
    config: dict[str, Any],
    *,
    surrogate: str | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> SNNModel:
    """Build the (uninitialized) network of an experiment config from sim layers.

    Args:
        config: a validated experiment config (:func:`~fluctinit.training.experiments.load_experiment`).
        surrogate: override ``training.surrogate`` (``"superspike"`` or ``"rescaled"``).
        generator: for the layers' default weights (overwritten by :func:`initialize_model`).
        dtype, device: of all parameters.
    """
    from fluctinit.sim.encoding import SensoryEncoder
    from fluctinit.sim.layers import DaleConv1d, DaleConv2d, DaleDense, LIFConv1d, LIFConv2d, LIFDense
    from fluctinit.sim.networks import Network
    from fluctinit.sim.surrogate import SuperSpike

    net, tr, data = config["network"], config["training"], config["data"]
    sur_name = surrogate or tr.get("surrogate", "superspike")
    sur = SuperSpike(beta=tr.get("beta", 20.0), rescaled=sur_name == "rescaled")
    dt = data["dt"]
    kw = dict(dt=dt, theta=net.get("theta", 1.0), surrogate=sur, generator=generator, dtype=dtype, device=device)
    lif_kw = dict(kw, tau_mem=net["tau_mem"], tau_syn=net["tau_syn"])
    dale_kw = dict(
        kw,
        tau_mem_exc=net["tau_mem"],
        tau_mem_inh=net.get("tau_mem_inh", net["tau_mem"]),
        tau_syn_exc=net["tau_syn"],
        tau_syn_inh=net.get("tau_syn_inh", 2 * net["tau_syn"]),
    )
    kind = net["kind"]
    layers = []
    encoder = None
    if kind == "dense":
        input_shape = (net["n_in"],)
        prev = net["n_in"]
        for i, h in enumerate(net["hidden"]):
            if net.get("dale"):
                layers.append(DaleDense(prev, h, net["n_inh"][i], exc_recurrent=net.get("recurrent", True), **dale_kw))
            else:
                layers.append(LIFDense(prev, h, recurrent=net.get("recurrent", False), **lif_kw))
            prev = h
    else:
        in_ch = net.get("in_channels", 1)
        if net.get("encoder"):
            e = net["encoder"]
            encoder = SensoryEncoder(
                in_ch, e["fan_out"], _exp.n_steps(config), dt=dt, tau_mem=e.get("tau_mem", 0.02),
                tau_syn=e.get("tau_syn", 0.01), theta=e.get("theta", 1.0), surrogate=sur, dtype=dtype,
                device=device,
            )
            in_ch = encoder.out_channels
        spatial = (net["n_in"],) if kind == "conv1d" else tuple(net["n_in"])
        input_shape = (in_ch, *spatial)
        conv = LIFConv1d if kind == "conv1d" else LIFConv2d
        dconv = DaleConv1d if kind == "conv1d" else DaleConv2d
        prev = in_ch
        for i, (c, k, s) in enumerate(zip(net["hidden"], net["kernel_size"], net["stride"])):
            if net.get("dale"):
                layers.append(
                    dconv(prev, c, net["n_inh"][i], kernel_size=k, stride=s, padding=net.get("padding", 0),
                          exc_recurrent=net.get("recurrent", True),
                          exc_rec_kernel_size=net.get("rec_kernel_size", 5),
                          inh_rec_kernel_size=net.get("rec_kernel_size_inh", 3), **dale_kw)
                )
            else:
                layers.append(
                    conv(prev, c, kernel_size=k, stride=s, padding=net.get("padding", 0),
                         recurrent=net.get("recurrent", False), rec_kernel_size=net.get("rec_kernel_size", 5),
                         **lif_kw)
                )
            prev = c
    network = Network(
        layers,
        net["n_out"],
        input_shape=input_shape,
        tau_out=net["tau_out"],
        tau_syn_out=net.get("tau_syn_out", net["tau_syn"]),
        dt=dt,
        skip=net.get("skip", False),
        pool=bool(net.get("pool_every")),
        generator=generator,
        dtype=dtype,
        device=device,
    )
    return SNNModel(network, encoder)


# ----------------------------------------------------------------------------- data
@dataclass
class Splits:
    """Train/validation/test data of an experiment.

    Each split is an object with ``batches(batch_size, shuffle, generator) -> iterator of
    (x, labels)`` bound to the experiment's time step, device and dtype (see :func:`load_data`).
    """

    train: Any
    valid: Any
    test: Any
    nu: float | None = None  # measured mean input rate (Hz), where the loader gives one


class TensorSplit:
    """A split held in memory: ``x`` of shape ``(samples, ...)`` and integer ``labels``.

    ``batches(batch_size, shuffle, generator)`` yields ``(x[idx], labels[idx])`` in the order
    ``torch.randperm(n, generator=generator)`` (or storage order without shuffling).
    """

    def __init__(self, x: torch.Tensor, labels: torch.Tensor):
        if len(x) != len(labels):
            raise ParameterError(
                f"`labels` must have one entry per sample ({len(x)}); got {len(labels)}",
                ["labels"], [len(labels)],
            )
        self.x, self.labels = x, labels.long()

    def __len__(self):
        return len(self.x)

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        n = len(self.x)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.x[idx], self.labels[idx]


class _SpikeSplit:
    """Adapter: a sim ``SpikeDataset`` (event form) binned at dt, ``n_steps`` fixed.

    ``events=True``: batches are :class:`~fluctinit.sim.events.SpikeEvents` (binned
    events, never a dense tensor), which a network with a dense first layer feeds straight to
    the fast core's event-input scan (SHD: a dense batch would be 400 x 350 x 700 floats).
    """

    def __init__(self, ds, dt: float, n_steps: int, dtype, device, events: bool = False):
        self.ds, self.dt, self.n_steps, self.dtype, self.device = ds, dt, n_steps, dtype, device
        self.events = events

    def __len__(self):
        return len(self.ds)

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        if self.events:
            from fluctinit.sim.events import SpikeEvents

            for eb, y in self.ds.batches(
                batch_size, self.dt, shuffle=shuffle, generator=generator, n_steps=self.n_steps,
                dtype=self.dtype, device=self.device, form="events",
            ):
                yield SpikeEvents.from_event_batch(eb), y
            return
        yield from self.ds.batches(
            batch_size, self.dt, shuffle=shuffle, generator=generator, n_steps=self.n_steps,
            dtype=self.dtype, device=self.device,
        )


class _GenericSplit:
    """Adapter for loaders whose ``batches`` takes ``(batch_size, shuffle=, generator=, **kwargs)``.

    Evaluation passes (``generator=None``) get a fixed generator, so any preprocessing
    randomness (DVS-Gesture event dropping) is the same at every evaluation.
    """

    def __init__(self, ds, kwargs: dict):
        self.ds, self.kwargs = ds, kwargs

    def __len__(self):
        return len(self.ds)

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        return self.ds.batches(batch_size, shuffle=shuffle, generator=generator, **self.kwargs)


def load_data(
    config: dict[str, Any],
    root: str | os.PathLike = ".",
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Splits:
    """Load an experiment's data set (files under ``root``; Randman is generated).

    Raises:
        FileNotFoundError: one line naming the missing files and where to put them.
    """
    from fluctinit import datasets

    d = config["data"]
    ds = d["dataset"]
    _exp.check_data_files(config, root)
    T = _exp.n_steps(config)
    # binned events instead of dense batches for dense networks on the CPU (the fused core's
    # event-input scan); conv networks and CUDA get dense tensors
    ev = config["network"]["kind"] == "dense" and torch.device(device or "cpu").type == "cpu"
    if ds == "randman":
        from fluctinit.datasets.randman import RandmanConfig, make_randman

        per_class = d.get("samples_per_class", 1000)
        n_tr, n_va, n_te = d.get("split", [800, 100, 100])
        rc = RandmanConfig(
            n_units=d.get("n_units", 20), n_classes=d.get("n_classes", 10),
            samples_per_class=per_class, n_train=n_tr, n_valid=n_va, n_test=n_te,
            spike_window=d.get("spike_window", 0.1), silence=d["duration"] - d.get("spike_window", 0.1),
            seed=d.get("seed", 0),
            **{k: d[k] for k in ("frequencies", "spectrum", "zero_constant") if k in d},
            **({"split": d["split_mode"]} if "split_mode" in d else {}),
        )
        sp = make_randman(rc)
        mk = lambda s: _SpikeSplit(s, d["dt"], T, dtype, device, events=ev)  # noqa: E731
        return Splits(mk(sp.train), mk(sp.valid), mk(sp.test), nu=rc.mean_rate)
    if ds == "shd":
        sp = datasets.load_shd(
            root, duration=d["duration"], valid_fraction=d.get("validation_fraction", 0.1),
            seed=d.get("split_seed", 0),
        )
        mk = lambda s: _SpikeSplit(s, d["dt"], T, dtype, device, events=ev)  # noqa: E731
        return Splits(mk(sp.train), mk(sp.valid), mk(sp.test), nu=float(sp.train.mean_rate))
    if ds == "cifar10":
        sp = datasets.load_cifar10(
            root, valid_fraction=d.get("validation_fraction", 0.1), seed=d.get("split_seed", 0)
        )
        mk = lambda s: _GenericSplit(s, {"dtype": dtype, "device": device})  # noqa: E731
        return Splits(mk(sp.train), mk(sp.valid), mk(sp.test), nu=None)
    sp = datasets.load_dvs_gesture(root, factor=128 // d.get("size", 32))
    train, valid = _split_dvs(sp.train, d.get("validation_fraction", 0.1), d.get("split_seed", 0))
    opts = {"dt": d["dt"], "crop": d["duration"], "drop_prob": d.get("drop_probability", 0.5),
            "dtype": dtype, "device": device}
    return Splits(
        _GenericSplit(train, dict(opts, random_crop=True)),
        _GenericSplit(valid, dict(opts, random_crop=False)),
        _GenericSplit(sp.test, dict(opts, random_crop=False)),
        nu=None,
    )


def _split_dvs(ds, fraction: float, seed: int):
    """Seeded validation split of a DVS-Gesture training set (the official split has none)."""
    import numpy as np

    from fluctinit.datasets import DvsGestureDataset

    n = len(ds)
    perm = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, int(round(fraction * n))) if n > 1 else 0
    va, tr = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    mk = lambda idx: DvsGestureDataset(ds.events.subset(idx), ds.lengths[idx], ds.side)  # noqa: E731
    return mk(tr), mk(va)


# ----------------------------------------------------------------------------- init
@torch.no_grad()
def measure_encoder_rate(model: SNNModel, split, batch_size: int, n_batches: int = 4) -> float:
    """Mean firing rate (Hz) of the sensory encoder on a few training batches (paper: 14.3 Hz)."""
    dt = model.encoder.dt
    total, count = 0.0, 0
    gen = torch.Generator().manual_seed(0)
    for i, (x, _) in enumerate(split.batches(batch_size, True, gen)):
        if i >= n_batches:
            break
        s = model.encoder(x)
        total += float(s.sum())
        count += s.numel()
    return total / max(count, 1) / dt


def initialize_model(
    model: SNNModel,
    config: dict[str, Any],
    nu: float,
    generator: torch.Generator,
) -> None:
    """Initialize every layer from the theory via sim's ``init_network_`` (readout included).

    ``config["init"]``: ``method`` ("fluctuation" or "kaiming"), ``sigma_u``, ``alpha``; the
    same rate ``nu`` (Hz) is used for every layer, as the paper does.
    """
    from fluctinit.sim.init import init_network_

    ini = config["init"]
    init_network_(
        model.network, nu, sigma_u=ini.get("sigma_u", 1.0), alpha=ini.get("alpha", 0.9),
        method=ini["method"], generator=generator,
    )


# ----------------------------------------------------------------------------- training
def run_name(config: dict[str, Any], seed: int) -> str:
    """File stem for one run, e.g. ``randman-ff_fluctuation-sigma1_seed0``."""
    ini = config["init"]
    tag = f"fluctuation-sigma{ini['sigma_u']:g}" if ini["method"] == "fluctuation" else "kaiming"
    return f"{config['name']}_{tag}_seed{seed}"


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch)


@torch.no_grad()
def evaluate(model: SNNModel, split, batch_size: int) -> dict[str, float]:
    """Loss and accuracy of the supervised objective on a whole split (no regularizers)."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in split.batches(batch_size, False, None):
        out = model(x)
        loss, scores = max_over_time_cross_entropy(out.readout, y)
        total_loss += float(loss) * len(y)
        correct += int((scores.argmax(1) == y).sum())
        n += len(y)
    model.train()
    return {"loss": total_loss / max(n, 1), "accuracy": correct / max(n, 1)}


def _mean_dicts(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def train_experiment(
    config: dict[str, Any],
    *,
    seed: int = 0,
    epochs: int | None = None,
    sigma_u: float | None = None,
    init: str | None = None,
    surrogate: str | None = None,
    device: str = "cpu",
    data_root: str | os.PathLike = ".",
    out: str | os.PathLike = "runs",
    resume: bool = False,
    progress: bool = True,
    data: Splits | None = None,
    dtype: torch.dtype = torch.float32,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train one seed of an experiment; write checkpoint and results JSON under ``out``.

    Args:
        config: validated experiment config (:func:`~fluctinit.training.experiments.load_experiment`).
        seed: initialization and data-order seed (the data set itself has its own fixed seed).
        epochs: override ``training.epochs`` (supervised epochs; priming comes on top).
        sigma_u: override ``init.sigma_u``.  init: override ``init.method``.
        surrogate: override ``training.surrogate``.
        device: "cpu" or "cuda".
        data_root: folder holding the data files.  out: output folder.
        resume: continue from ``out/<run>.ckpt`` if present (exactly; the config must match).
        progress: tqdm bar per epoch.  data: pre-loaded :class:`Splits` (tests).
        log: called with one line per epoch (default: none).

    Returns:
        The results dict also written to ``out/<run>.json``.
    """
    import copy

    from tqdm import tqdm

    from fluctinit.errors import Integer, OneOf, check

    config = copy.deepcopy(config)
    seed = check("seed", seed, Integer(0))
    check("device", device, OneOf(("cpu", "cuda")))
    if epochs is not None:
        config["training"]["epochs"] = check("epochs", epochs, Integer(0))
    if sigma_u is not None:
        config["init"]["sigma_u"] = sigma_u
    if init is not None:
        config["init"]["method"] = init
    if surrogate is not None:
        config["training"]["surrogate"] = surrogate
    config = _exp.validate_experiment({k: v for k, v in config.items() if k != "source"}) | {
        "source": config.get("source")
    }
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("`device` must be 'cpu' on a machine without CUDA; got 'cuda'", ["device"], [device])
    tr = config["training"]
    out = Path(out)
    name = run_name(config, seed)
    ckpt_path, results_path = out / f"{name}.ckpt", out / f"{name}.json"

    if data is None:
        _exp.check_data_files(config, data_root)
        data = load_data(config, data_root, dtype=dtype, device=device)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(config, generator=gen, dtype=dtype)
    if model.encoder is not None:
        model.encoder.reset_parameters(gen)
    if device != "cpu":
        model.to(device)
        gen = torch.Generator(device=device).manual_seed(seed)
    nu = config["init"]["nu"]
    if nu == "measured":
        if model.encoder is not None:
            nu = measure_encoder_rate(model, data.train, tr["batch_size"])
        elif data.nu is not None:
            nu = data.nu
        else:
            raise ParameterError(
                "`init.nu` must be a rate in Hz for this data set (no measurement available); got 'measured'",
                ["init.nu"], ["measured"],
            )
        if not nu > 0:
            raise ParameterError(
                f"`init.nu` measured as {nu!r} Hz (silent encoder); set a rate in Hz", ["init.nu"], [nu]
            )
    initialize_model(model, config, float(nu), gen)
    optimizer = make_optimizer(tr["optimizer"], model.parameters(), tr["lr"])

    n_priming = tr["priming_epochs"] if tr["homeostasis"] == "priming" else 0
    total_epochs = n_priming + tr["epochs"]
    history: list[dict[str, Any]] = []
    recorded_init: dict[str, Any] | None = None
    start_epoch = 0
    elapsed = 0.0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        saved = {k: v for k, v in ck["config"].items() if k != "source"}
        mine = {k: v for k, v in config.items() if k != "source"}
        saved_t = dict(saved["training"], epochs=None)
        mine_t = dict(mine["training"], epochs=None)
        if dict(saved, training=saved_t) != dict(mine, training=mine_t) or ck["seed"] != seed:
            raise ParameterError(
                f"`resume` needs the same config and seed as the checkpoint {str(ckpt_path)!r}; "
                "they differ (start without --resume or use another --out)",
                ["resume"], [True],
            )
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        # Training draws no numbers from torch's global generators (all randomness comes from
        # explicit generators seeded by (seed, epoch)), so the saved global states are a record
        # only and are not written back: library code leaves global RNG state alone.
        history = ck["history"]
        recorded_init = ck["recorded_init"]
        start_epoch = ck["epoch"]
        nu = ck["nu"]
        elapsed = ck.get("elapsed_s", 0.0)

    dt = config["data"]["dt"]
    v_upper = v_upper_for_rate(config["data"]["duration"], tr["rate_upper"])
    n_train = len(data.train) if hasattr(data.train, "__len__") else None
    n_batches = math.ceil(n_train / tr["batch_size"]) if n_train else None

    for epoch in range(start_epoch, total_epochs):
        t0 = time.perf_counter()
        priming = epoch < n_priming
        gen_e = _epoch_generator(seed, epoch)
        rows: list[dict[str, float]] = []
        rate_rows, sg_rows, dw_rows = [], [], []
        bar = tqdm(
            data.train.batches(tr["batch_size"], True, gen_e),
            total=n_batches,
            desc=f"{'prime' if priming else 'epoch'} {epoch + 1}/{total_epochs}",
            disable=not progress, leave=False, dynamic_ncols=True,
        )
        for x, y in bar:
            out_ = model(x)
            # spike counts feed both regularizers and the rates (the fast core counted them in
            # its time loop; their gradient reaches the spikes)
            counts = out_.layer_counts
            rec = GradientRecorder(out_.outputs)
            sup, scores = max_over_time_cross_entropy(out_.readout, y)
            l_ub = upper_bound_from_counts(counts, v_upper, tr["lambda_upper"])
            l_hp = homeostatic_from_counts(counts, tr["v_lower"], tr["lambda_lower"])
            if priming:
                loss = l_hp
            elif tr["homeostasis"] == "ongoing":
                loss = sup + l_ub + l_hp
            else:
                loss = sup + l_ub
            before = snapshot(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.apply_constraints_()
            rates = firing_rates_from_counts(counts, out_.layer_spikes[0].shape[1], dt) if counts else []
            sgs = rec.magnitudes()
            dws = list(weight_update_magnitudes(before, model).values())
            acc = float((scores.argmax(1) == y).float().mean())
            rows.append({"loss": float(loss.detach()), "sup_loss": float(sup.detach()), "ub_loss": float(l_ub.detach()),
                         "hp_loss": float(l_hp.detach()), "accuracy": acc})
            rate_rows.append(rates)
            sg_rows.append(sgs)
            dw_rows.append(dws)
            if recorded_init is None:
                recorded_init = {"rates_hz": rates, "sg_magnitude": sgs, "dw_magnitude": dws,
                                 "layers": [n for n in weight_update_magnitudes(before, model)]}
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", acc=f"{acc:.2f}",
                            rate=f"{sum(rates) / max(len(rates), 1):.1f}Hz")
        bar.close()
        mean = _mean_dicts(rows)
        col = lambda rr: [sum(c) / len(rr) for c in zip(*rr)] if rr else []  # noqa: E731
        val = evaluate(model, data.valid, tr["batch_size"])
        elapsed += time.perf_counter() - t0
        entry = {
            "epoch": epoch + 1,
            "phase": "priming" if priming else "supervised",
            "train_loss": mean.get("loss"), "train_sup_loss": mean.get("sup_loss"),
            "train_ub_loss": mean.get("ub_loss"), "train_hp_loss": mean.get("hp_loss"),
            "train_accuracy": mean.get("accuracy"),
            "valid_loss": val["loss"], "valid_accuracy": val["accuracy"],
            "rates_hz": col(rate_rows), "sg_magnitude": col(sg_rows), "dw_magnitude": col(dw_rows),
            "elapsed_s": elapsed,
        }
        history.append(entry)
        if log is not None:
            log(
                f"{name} epoch {epoch + 1}/{total_epochs} [{entry['phase']}] loss {entry['train_loss']:.4f} "
                f"train {entry['train_accuracy']:.3f} valid {entry['valid_accuracy']:.3f} "
                f"rates {', '.join(f'{r:.1f}' for r in entry['rates_hz'])} Hz ({elapsed:.1f} s)"
            )
        atomic_torch_save(
            ckpt_path,
            {
                "config": config, "seed": seed, "epoch": epoch + 1, "nu": nu,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if device == "cuda" else None,
                        "epoch_generator": gen_e.get_state()},
                "history": history, "recorded_init": recorded_init, "elapsed_s": elapsed,
            },
        )

    final = {
        "train": evaluate(model, data.train, tr["batch_size"]),
        "valid": evaluate(model, data.valid, tr["batch_size"]),
        "test": evaluate(model, data.test, tr["batch_size"]),
    }
    sup_hist = [h for h in history if h["phase"] == "supervised"]
    results = {
        "experiment": config["name"],
        "config": config,
        "seed": seed,
        "code_version": code_version(),
        "device": device,
        "nu_hz": float(nu),
        "epochs_completed": len(sup_hist),
        "priming_epochs": n_priming,
        "history": history,
        "final": {
            "train_accuracy": final["train"]["accuracy"],
            "validation_accuracy": final["valid"]["accuracy"],
            "test_accuracy": final["test"]["accuracy"],
            "train_loss": final["train"]["loss"],
            "validation_loss": final["valid"]["loss"],
            "test_loss": final["test"]["loss"],
        },
        "recording": {
            "at_init": recorded_init,
            "epochs_to_90_train": epochs_to_accuracy([h["train_accuracy"] for h in sup_hist], 0.9),
        },
        "time_s": elapsed,
    }
    atomic_write_json(results_path, results)
    return results
