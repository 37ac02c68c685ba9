"""The training loop: surrogate-gradient training of one experiment for one seed (section 4.2, tables 4-6).

:func:`train_experiment` runs a named experiment (training/experiments/*.json) as a sequence
of steps:

1. resolve the overrides and validate the config (:func:`resolve_config`), refuse options
   the config has no use for (:func:`inapplicable_options`) and inspect the output folder
   (:func:`~fluctinit.training.plan_run`: a run already there needs ``resume`` or
   ``overwrite``; a finished run asked for again with ``resume`` is returned as stored);
2. load the data (:func:`~fluctinit.training.load_data`) unless given, and warn
   (:class:`~fluctinit.training.SilentDataWarning`) if the training split holds no spike;
3. build the network, initialize it from the theory and make the optimizer (:func:`_build`),
   or continue from the run's checkpoint (:func:`~fluctinit.training.restore_checkpoint_`);
4. train epoch by epoch (:func:`_train_epoch_`, one :func:`_train_step_` per batch), each
   epoch giving one history record (:func:`_epoch_record`) and a checkpoint
   (:func:`~fluctinit.training.save_checkpoint`);
5. evaluate on every split and write the results JSON (:func:`_results`).

Each step trains with BPTT through the surrogate (SuperSpike beta = 20, eq. 28, or its
rescaled form, eq. 29) on

    L = L_sup (eqs. 20-21) + L_UB (eqs. 22-23) [+ L_HP (eqs. 24-25) if homeostasis is on]

(regularizer signs fixed, see :mod:`fluctinit.training.losses`), with SMORMS3 (eqs. 30-33),
Adam or SGD.  Dale's-law weights are projected onto >= 0 after every step (readout
unconstrained).  With ``homeostasis = "priming"`` the first ``priming_epochs`` epochs optimize
``L_HP`` alone (homeostatic priming, figure 5c), then supervised training starts without it.

Every epoch writes a checkpoint atomically; ``resume`` continues an interrupted run exactly:
the data order of epoch ``e`` is drawn from a generator seeded by ``(seed, e)`` and nothing
else in training is random, so 2 epochs straight and 1 + resume 1 give identical weights
(tests/test_train_resume.py).  The results JSON (config, seed, code version, per-epoch
history with each epoch's validation and test accuracy, final train/validation/test accuracy, the
epoch of best validation accuracy with its test accuracy, recorded magnitudes) is written
atomically too.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from fluctinit._io import atomic_write_json
from fluctinit.errors import Integer, OneOf, ParameterError, check, reject_inapplicable
from fluctinit.provenance import code_version

from .checkpoint import Progress, restore_checkpoint_, save_checkpoint
from .data import Splits, load_data, warn_if_silent
from .experiments import SPIKE_TIME_DATA, required_files, validate_experiment
from .losses import (
    homeostatic_loss,
    max_over_time_cross_entropy,
    upper_bound_loss,
    v_upper_for_rate,
)
from .model import ModelOutput, SNNModel, build_model, initialize_model, input_rate
from .optim import make_optimizer
from .recording import (
    GradientRecorder,
    epochs_to_accuracy,
    firing_rates_from_counts,
    snapshot,
    weight_update_magnitudes,
)
from .runs import plan_run, priming_epochs, read_results

__all__ = ["CONSTRAINTS", "best_validation", "check_device", "evaluate", "train_experiment", "resolve_config",
           "inapplicable_options"]

#: Constraints on :func:`train_experiment`'s own arguments (the config overrides ``sigma_u``,
#: ``init`` and ``surrogate`` are checked with the config, by ``validate_experiment``).
CONSTRAINTS = {
    "seed": Integer(0),
    "epochs": Integer(0),
    "device": OneOf(("cpu", "cuda")),
}


def check_device(device: str) -> str:
    """Return ``device`` if training can run there.

    Raises:
        ParameterError: ``device`` is not "cpu" or "cuda", or "cuda" on a machine without CUDA.
    """
    check("device", device, CONSTRAINTS["device"])
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("`device` must be 'cpu' on a machine without CUDA; got 'cuda'", ["device"], [device])
    return device


def evaluate(model: SNNModel, split, batch_size: int) -> dict[str, float]:
    """Loss and accuracy of the supervised objective on a whole split (no regularizers)."""
    model.eval()
    try:
        return _evaluate_all(lambda x: [model(x).readout], split, batch_size, 1)[0]
    finally:
        model.train()


@torch.no_grad()
def _evaluate_all(readouts: Callable, split, batch_size: int, n: int) -> list[dict[str, float]]:
    """:func:`evaluate` for ``n`` networks at once: ``readouts(x)`` returns each network's
    readout membrane ``(batch, time, classes)`` for the input batch ``x`` (one pass over the
    split for all of them, e.g. :func:`~fluctinit.training.train_batched`'s networks)."""
    totals = [[0.0, 0] for _ in range(n)]
    count = 0
    for x, y in split.batches(batch_size, False, None):
        for total, readout in zip(totals, readouts(x)):
            loss, scores = max_over_time_cross_entropy(readout, y)
            total[0] += float(loss) * len(y)
            total[1] += int((scores.argmax(1) == y).sum())
        count += len(y)
    return [{"loss": loss / max(count, 1), "accuracy": correct / max(count, 1)} for loss, correct in totals]


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
    overwrite: bool = False,
    progress: bool = True,
    data: Splits | None = None,
    dtype: torch.dtype = torch.float32,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train one seed of an experiment; write checkpoint and results JSON under ``out``.

    Args:
        config: validated experiment config (:func:`~fluctinit.training.load_experiment`).
        seed: initialization and data-order seed (the data set itself has its own fixed seed).
        epochs: override ``training.epochs`` (supervised epochs; priming comes on top).
        sigma_u: override ``init.sigma_u``.  init: override ``init.method``.
        surrogate: override ``training.surrogate``.
        device: "cpu" or "cuda".
        data_root: folder holding the data files.  out: output folder.
        resume: continue from ``out/<run>.ckpt`` if present (exactly; the config must match, the
            epochs may grow); results of this very run already in ``out`` are returned as they
            are, without training.
        overwrite: replace the run's files in ``out`` (they are kept until training writes
            new ones).  Without ``resume`` or ``overwrite`` a run already in ``out`` is refused.
        progress: tqdm bar per epoch.  data: pre-loaded :class:`Splits` (tests).
        log: called with one line per epoch (default: none).

    Returns:
        The results dict also written to ``out/<run>.json``.

    Raises:
        ParameterError: a bad argument or config field; ``sigma_u`` with the Kaiming
            initialization (:func:`inapplicable_options`); the output folder's state
            (:func:`~fluctinit.training.plan_run`), all before any data are loaded.

    Warns:
        SilentDataWarning: the training split holds no spike (the network gets no input).

    This function does not lock ``out``: a caller running several trainings into one folder at
    once holds :func:`~fluctinit.training.hold_output` around them (``fluctinit train`` does).
    """
    config, seed = resolve_config(
        config, seed=seed, epochs=epochs, sigma_u=sigma_u, init=init, surrogate=surrogate, device=device
    )
    for what, names in inapplicable_options(config).items():
        reject_inapplicable({"sigma_u": sigma_u}, what, names)
    plan = plan_run(config, seed, out, resume=resume, overwrite=overwrite)
    if plan.action == "done":
        return read_results(plan.results)
    if data is None:
        data = load_data(config, data_root, dtype=dtype, device=device)
    run = _open_run(config, seed, plan, data, dtype=dtype, device=device)
    schedule = _Schedule.of(config)
    if run.state.epoch < schedule.total_epochs:
        warn_if_silent(data.train, f"experiment {config['name']!r}")
    step = lambda x, y, priming: [_train_step_(run.model, run.optimizer, x, y, schedule, priming)]  # noqa: E731
    for epoch in range(run.state.epoch, schedule.total_epochs):
        t0 = time.perf_counter()
        generator = _epoch_generator(seed, epoch)
        (steps,) = _train_epoch_(step, 1, data.train, generator, schedule, epoch, progress=progress)
        valid = evaluate(run.model, data.valid, schedule.batch_size)
        test = evaluate(run.model, data.test, schedule.batch_size)  # recorded, never used to choose
        _end_epoch_(run, schedule, epoch, steps, valid, test, time.perf_counter() - t0, generator, log)
    final = _final_evaluation(lambda x: [run.model(x).readout], 1, data, schedule.batch_size)
    return _finish_(run, schedule, final[0])


# ----------------------------------------------------------------------------- set-up
def resolve_config(
    config: dict[str, Any], *, seed: int = 0, epochs: int | None = None, sigma_u: float | None = None,
    init: str | None = None, surrogate: str | None = None, device: str = "cpu",
) -> tuple[dict[str, Any], int]:
    """The config a run of :func:`train_experiment` trains: overrides applied to a copy, validated.

    ``config["source"]`` is kept as it is (it is not part of the validated schema).  Reads no
    data and writes nothing; :func:`~fluctinit.training.plan_runs` names the run's files from
    the result.

    Returns:
        ``(config, seed)``.

    Raises:
        ParameterError: a bad argument, a config field out of range (the schema also refuses
            the Kaiming initialization on a Dale's-law network: its weights are signed), or
            ``device="cuda"`` without CUDA.
    """
    config = copy.deepcopy(config)
    seed = check("seed", seed, CONSTRAINTS["seed"])
    check("device", device, CONSTRAINTS["device"])
    if epochs is not None:
        config["training"]["epochs"] = check("epochs", epochs, CONSTRAINTS["epochs"])
    if sigma_u is not None:
        config["init"]["sigma_u"] = sigma_u
    if init is not None:
        config["init"]["method"] = init
        if init != "normal":  # the weights' mean and std belong to method "normal" alone
            config["init"].pop("mu_w", None)
            config["init"].pop("sigma_w", None)
    if surrogate is not None:
        config["training"]["surrogate"] = surrogate
    config = validate_experiment({k: v for k, v in config.items() if k != "source"}) | {
        "source": config.get("source")
    }
    check_device(device)  # whether CUDA is there: after the config, as the name was checked above
    return config, seed


#: the config key each override argument of :func:`train_experiment` sets
OVERRIDE_KEYS = {"epochs": "training.epochs", "sigma_u": "init.sigma_u", "init": "init.method",
                 "surrogate": "training.surrogate"}


def inapplicable_options(config: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Options of a run a (resolved) config has no use for: ``{what: (option names)}``.

    ``sigma_u`` does not apply to the Kaiming initialization (it sets no membrane target);
    ``data_root`` does not apply to a data set that is generated (Randman reads no files);
    ``strict`` only to SHD and FSDD (the data sets whose files store spike times as floats).
    ``fluctinit train`` refuses such an option when given
    (:func:`fluctinit.cli.reject_inapplicable`); :func:`train_experiment` refuses ``sigma_u``.
    """
    out: dict[str, tuple[str, ...]] = {}
    if config["init"]["method"] == "kaiming":
        out["init kaiming"] = ("sigma_u",)
    if not required_files(config):
        out[f"dataset {config['data']['dataset']} (it is generated; no files are read)"] = ("data_root", "strict")
    elif config["data"]["dataset"] not in SPIKE_TIME_DATA:
        out[f"dataset {config['data']['dataset']} (its files hold no spike times that could be non-finite)"] = ("strict",)
    return out


def _build(config: dict[str, Any], seed: int, data: Splits, *, dtype, device):
    """The network (built and initialized from the theory), its optimizer and the rate ``nu`` used.

    One generator seeded by ``seed`` draws, in this order, the layers' default weights, the
    encoder's parameters and (after the move to ``device``, a fresh one there) the
    initialization.
    """
    gen = torch.Generator().manual_seed(seed)
    model = build_model(config, generator=gen, dtype=dtype)
    if device != "cpu":
        model.to(device)
        gen = torch.Generator(device=device).manual_seed(seed)
    nu = input_rate(config, model, data)
    initialize_model(model, config, float(nu), gen, data)
    tr = config["training"]
    return model, make_optimizer(tr["optimizer"], model.parameters(), tr["lr"]), nu


@dataclass
class _Run:
    """One run in training: its config, seed, files, network, optimizer and progress."""

    config: dict[str, Any]
    seed: int
    device: str
    plan: Any  # RunPlan
    model: SNNModel
    optimizer: torch.optim.Optimizer
    state: Progress


def _open_run(config: dict[str, Any], seed: int, plan, data: Splits, *, dtype, device) -> _Run:
    """The run of ``plan`` ready to train: built and initialized (:func:`_build`), and for a
    ``"resume"`` plan continued from its checkpoint."""
    model, optimizer, nu = _build(config, seed, data, dtype=dtype, device=device)
    state = Progress(nu=nu)
    if plan.action == "resume":
        state = restore_checkpoint_(plan.checkpoint, model, optimizer, config=config, seed=seed, device=device)
    return _Run(config, seed, device, plan, model, optimizer, state)


@dataclass(frozen=True)
class _Schedule:
    """What every epoch of a run needs from the config: phases, batch size and the objective."""

    n_priming: int
    total_epochs: int
    batch_size: int
    homeostasis: str
    v_upper: float
    lambda_upper: float
    v_lower: float
    lambda_lower: float
    dt: float

    @classmethod
    def of(cls, config: dict[str, Any]) -> "_Schedule":
        tr = config["training"]
        n_priming = priming_epochs(config)
        return cls(
            n_priming=n_priming, total_epochs=n_priming + tr["epochs"], batch_size=tr["batch_size"],
            homeostasis=tr["homeostasis"],
            v_upper=v_upper_for_rate(config["data"]["duration"], tr["rate_upper"]),
            lambda_upper=tr["lambda_upper"], v_lower=tr["v_lower"], lambda_lower=tr["lambda_lower"],
            dt=config["data"]["dt"],
        )

    def is_priming(self, epoch: int) -> bool:
        return epoch < self.n_priming

    def loss(self, sup: torch.Tensor, l_ub: torch.Tensor, l_hp: torch.Tensor, priming: bool) -> torch.Tensor:
        """The objective: ``L_HP`` alone while priming, else ``L_sup + L_UB [+ L_HP]``."""
        if priming:
            return l_hp
        if self.homeostasis == "ongoing":
            return sup + l_ub + l_hp
        return sup + l_ub


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch)


# ----------------------------------------------------------------------------- one epoch
@dataclass
class _Step:
    """What one training step records."""

    losses: dict[str, float]  # loss, sup_loss, ub_loss, hp_loss, accuracy
    rates: list[float]  # Hz, per hidden layer
    sg: list[float]  # surrogate-gradient magnitude per recorded output
    dw: list[float]  # weight-update magnitude per layer group
    layers: list[str]  # the layer groups of ``dw``


def _train_epoch_(
    step_: Callable, n: int, split, generator: torch.Generator, schedule: _Schedule, epoch: int, *, progress: bool
) -> list[list[_Step]]:
    """One pass over the training split in the order ``generator`` draws.

    ``step_(x, y, priming)`` trains on one batch (in place) and returns one :class:`_Step` for
    each of the ``n`` networks it trains (one, or the cells of
    :func:`~fluctinit.training.train_batched`).  Returns, per network, its steps in order.
    """
    from tqdm import tqdm

    priming = schedule.is_priming(epoch)
    n_train = len(split) if hasattr(split, "__len__") else None
    bar = tqdm(
        split.batches(schedule.batch_size, True, generator),
        total=math.ceil(n_train / schedule.batch_size) if n_train else None,
        desc=f"{'prime' if priming else 'epoch'} {epoch + 1}/{schedule.total_epochs}",
        # disable=None: no bar when stderr is not a terminal (logs stay readable)
        disable=None if progress else True, leave=False, dynamic_ncols=True,
    )
    steps: list[list[_Step]] = [[] for _ in range(n)]
    for x, y in bar:
        batch = step_(x, y, priming)
        for rows, step in zip(steps, batch):
            rows.append(step)
        mean = _mean_dicts([s.losses for s in batch])
        rates = [r for s in batch for r in s.rates]
        bar.set_postfix(loss=f"{mean['loss']:.3f}", acc=f"{mean['accuracy']:.2f}",
                        rate=f"{sum(rates) / max(len(rates), 1):.1f}Hz")
    bar.close()
    return steps


def _counts_and_recorder(out: ModelOutput) -> tuple[list[torch.Tensor], GradientRecorder]:
    """Per-layer spike counts and the recorder of the outputs' gradients, for one batch.

    The counts (:attr:`ModelOutput.layer_counts`, reused from the simulator's time loop where it
    counted) feed both regularizers and the rates.  Created before the loss is built and
    backpropagated.
    """
    return out.layer_counts, GradientRecorder(out.outputs)


def _objective(schedule: _Schedule, readout: torch.Tensor, counts: list[torch.Tensor], y: torch.Tensor,
               priming: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One network's loss on a batch (:meth:`_Schedule.loss`) and its terms as detached
    scalars (``loss``, ``sup_loss``, ``ub_loss``, ``hp_loss``, ``accuracy``)."""
    sup, scores = max_over_time_cross_entropy(readout, y)
    l_ub = upper_bound_loss(counts, schedule.v_upper, schedule.lambda_upper)
    l_hp = homeostatic_loss(counts, schedule.v_lower, schedule.lambda_lower)
    loss = schedule.loss(sup, l_ub, l_hp, priming)
    terms = {"loss": loss, "sup_loss": sup, "ub_loss": l_ub, "hp_loss": l_hp,
             "accuracy": (scores.argmax(1) == y).float().mean()}
    return loss, {k: v.detach() for k, v in terms.items()}


def _train_step_(model, optimizer, x, y, schedule: _Schedule, priming: bool) -> _Step:
    """Forward, loss, backward, optimizer step and Dale's-law projection on one batch."""
    out = model(x)
    counts, recorder = _counts_and_recorder(out)
    loss, terms = _objective(schedule, out.readout, counts, y, priming)
    before = snapshot(model)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    model.apply_constraints_()
    rates = firing_rates_from_counts(counts, out.layer_spikes[0].shape[1], schedule.dt) if counts else []
    dw = weight_update_magnitudes(before, model)
    return _Step({k: float(v) for k, v in terms.items()}, rates, recorder.magnitudes(), list(dw.values()), list(dw))


def _mean_dicts(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def _column_means(rows: list[list[float]]) -> list[float]:
    """Per-layer means over steps (rows: one list per step)."""
    return [sum(c) / len(rows) for c in zip(*rows)] if rows else []


def _epoch_record(epoch: int, priming: bool, steps: list[_Step], valid: dict[str, float], test: dict[str, float],
                  elapsed_s: float) -> dict:
    """The history entry of one epoch: mean training losses, validation, test, mean recordings."""
    mean = _mean_dicts([s.losses for s in steps])
    return {
        "epoch": epoch + 1,
        "phase": "priming" if priming else "supervised",
        "train_loss": mean.get("loss"), "train_sup_loss": mean.get("sup_loss"),
        "train_ub_loss": mean.get("ub_loss"), "train_hp_loss": mean.get("hp_loss"),
        "train_accuracy": mean.get("accuracy"),
        "valid_loss": valid["loss"], "valid_accuracy": valid["accuracy"],
        "test_accuracy": test["accuracy"],
        "rates_hz": _column_means([s.rates for s in steps]),
        "sg_magnitude": _column_means([s.sg for s in steps]),
        "dw_magnitude": _column_means([s.dw for s in steps]),
        "elapsed_s": elapsed_s,
    }


def _record_epoch_(state: Progress, entry: dict[str, Any], steps: list[_Step]) -> None:
    """Append ``entry`` to the history; keep the run's very first step as the recording at init."""
    if state.recorded_init is None and steps:
        s = steps[0]
        state.recorded_init = {"rates_hz": s.rates, "sg_magnitude": s.sg, "dw_magnitude": s.dw, "layers": s.layers}
    state.history.append(entry)
    state.epoch = entry["epoch"]


def _epoch_line(name: str, entry: dict[str, Any], total_epochs: int) -> str:
    return (
        f"{name} epoch {entry['epoch']}/{total_epochs} [{entry['phase']}] loss {entry['train_loss']:.4f} "
        f"train {entry['train_accuracy']:.3f} valid {entry['valid_accuracy']:.3f} "
        f"rates {', '.join(f'{r:.1f}' for r in entry['rates_hz'])} Hz ({entry['elapsed_s']:.1f} s)"
    )


def _end_epoch_(run: _Run, schedule: _Schedule, epoch: int, steps: list[_Step], valid: dict[str, float],
                test: dict[str, float], seconds: float, generator: torch.Generator, log) -> None:
    """Book a finished epoch of ``run``: its time, history record, log line and checkpoint."""
    run.state.elapsed_s += seconds
    entry = _epoch_record(epoch, schedule.is_priming(epoch), steps, valid, test, run.state.elapsed_s)
    _record_epoch_(run.state, entry, steps)
    if log is not None:
        log(_epoch_line(run.plan.name, entry, schedule.total_epochs))
    save_checkpoint(run.plan.checkpoint, config=run.config, seed=run.seed, model=run.model,
                    optimizer=run.optimizer, progress=run.state, epoch_generator=generator, device=run.device)


# ----------------------------------------------------------------------------- results
def best_validation(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The supervised epoch with the best validation accuracy (the first of ties) and its test
    accuracy: the model early stopping on the validation split would test.  None without epochs
    (or for histories written before the test accuracy was recorded per epoch)."""
    rows = [h for h in history if h.get("test_accuracy") is not None]
    if not rows:
        return None
    best = max(rows, key=lambda h: (h["valid_accuracy"], -h["epoch"]))
    return {"epoch": best["epoch"], "validation_accuracy": best["valid_accuracy"],
            "test_accuracy": best["test_accuracy"]}


def _final_evaluation(readouts: Callable, n: int, data: Splits, batch_size: int) -> list[dict[str, dict[str, float]]]:
    """Per network (``readouts`` as :func:`_evaluate_all`): loss and accuracy on every split."""
    per_split = {name: _evaluate_all(readouts, getattr(data, name), batch_size, n)
                 for name in ("train", "valid", "test")}
    return [{name: rows[k] for name, rows in per_split.items()} for k in range(n)]


def _finish_(run: _Run, schedule: _Schedule, final: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Write the results JSON of a finished ``run`` (:func:`_results`) atomically; return it."""
    results = _results(run.config, run.seed, run.device, run.state, schedule, final)
    atomic_write_json(run.plan.results, results)
    return results


def _results(config, seed: int, device: str, state: Progress, schedule: _Schedule, final) -> dict[str, Any]:
    """The results JSON of a run (see the module docstring)."""
    sup_hist = [h for h in state.history if h["phase"] == "supervised"]
    return {
        "experiment": config["name"],
        "config": config,
        "seed": seed,
        "code_version": code_version(),
        "device": device,
        "nu_hz": float(state.nu),
        "epochs_completed": len(sup_hist),
        "priming_epochs": schedule.n_priming,
        "history": state.history,
        "final": {
            "train_accuracy": final["train"]["accuracy"],
            "validation_accuracy": final["valid"]["accuracy"],
            "test_accuracy": final["test"]["accuracy"],
            "train_loss": final["train"]["loss"],
            "validation_loss": final["valid"]["loss"],
            "test_loss": final["test"]["loss"],
        },
        "best_validation": best_validation(sup_hist),
        "recording": {
            "at_init": state.recorded_init,
            "epochs_to_90_train": epochs_to_accuracy([h["train_accuracy"] for h in sup_hist], 0.9),
        },
        "time_s": state.elapsed_s,
    }
