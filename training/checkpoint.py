"""Checkpoints: a run's complete state after every epoch, written atomically, and exact resume.

A checkpoint holds the (validated) config and seed, the model and optimizer states, the
:class:`Progress` of the run (epochs done, the initialization rate, the history, the
first step's recording, the time spent) and, as a record only, the RNG states.  Training
draws every random number from generators seeded by ``(seed, epoch)``, so restoring the
weights, the optimizer and the progress is enough to continue a run exactly
(tests/test_train_resume.py).  A checkpoint resumes only the run it came from: same config
(but for ``training.epochs``: a resumed run may train longer) and the same seed.

:func:`read_checkpoint` loads one for inspection with ``torch.load(weights_only=True)`` (a
checkpoint holds tensors and plain data only, so a foreign pickle never runs code) and turns
every way a file can fail to be a checkpoint -- empty, truncated, random bytes, a torch file
of something else -- into one :class:`~fluctinit.errors.ParameterError` naming the file and
what is wrong with it; :func:`check_same_run` names every setting in which a checkpoint (or a
results file) differs from the run asked for.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fluctinit._io import atomic_path
from fluctinit.errors import ParameterError

__all__ = [
    "Progress", "atomic_torch_save", "save_checkpoint", "restore_checkpoint_", "read_checkpoint",
    "check_same_run", "check_weights_fit", "run_differences", "CHECKPOINT_KEYS",
]

#: what every checkpoint written by :func:`save_checkpoint` holds (``rng`` and ``elapsed_s``
#: aside: a record only, and older checkpoints lack ``elapsed_s``)
CHECKPOINT_KEYS = ("config", "seed", "epoch", "nu", "model", "optimizer", "history", "recorded_init")


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` to ``path`` atomically (temp file, then ``os.replace``)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@dataclass
class Progress:
    """How far a run has come, besides its weights and optimizer state.

    Attributes:
        nu: the presynaptic rate (Hz) the model was initialized for, as the config or the
            measurement gave it.
        epoch: epochs completed, priming epochs included.
        elapsed_s: training time so far (s), summed over resumed sessions.
        history: one record per completed epoch.
        recorded_init: rates and magnitudes of the run's first training step (None before it).
    """

    nu: Any
    epoch: int = 0
    elapsed_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    recorded_init: dict[str, Any] | None = None


def save_checkpoint(
    path: str | os.PathLike,
    *,
    config: dict[str, Any],
    seed: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: Progress,
    epoch_generator: torch.Generator,
    device: str,
) -> None:
    """Write the run's state to ``path`` atomically (the old checkpoint or the new one, never half).

    ``epoch_generator`` (the last epoch's data-order generator) and torch's global RNG states
    are stored as a record; :func:`restore_checkpoint_` does not need them.
    """
    atomic_torch_save(
        path,
        {
            # nu as a float: a checkpoint holds tensors and plain data only (read_checkpoint)
            "config": config, "seed": seed, "epoch": progress.epoch, "nu": float(progress.nu),
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device == "cuda" else None,
                    "epoch_generator": epoch_generator.get_state()},
            "history": progress.history, "recorded_init": progress.recorded_init,
            "elapsed_s": progress.elapsed_s,
        },
    )


def restore_checkpoint_(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    config: dict[str, Any],
    seed: int,
    device: str,
) -> Progress:
    """Load the checkpoint at ``path`` into ``model`` and ``optimizer`` (in place); return its progress.

    Args:
        path: a checkpoint written by :func:`save_checkpoint`.
        model, optimizer: built and initialized as for the run that wrote it.
        config, seed: of the run to continue; they must be the checkpoint's.
        device: where to map the stored tensors.

    Raises:
        ParameterError: ``path`` is not a readable checkpoint (:func:`read_checkpoint`), its
            config (``training.epochs`` and ``source`` aside) or seed differ from ``config``
            and ``seed`` (:func:`check_same_run`), or its weights do not fit ``model``.
    """
    ck = read_checkpoint(path, device=device)
    check_same_run(ck, config, seed, path)
    try:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise _not_a_checkpoint(path, f"its weights do not fit the model ({_first_line(err)})") from None
    # Training draws no numbers from torch's global generators (all randomness comes from
    # explicit generators seeded by (seed, epoch)), so the saved global states are a record
    # only and are not written back: library code leaves global RNG state alone.
    return Progress(
        nu=ck["nu"], epoch=ck["epoch"], elapsed_s=ck.get("elapsed_s", 0.0),
        history=ck["history"], recorded_init=ck["recorded_init"],
    )


def _first_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an error's message, printable characters only, at most ``limit`` long."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    text = "".join(ch for ch in text if ch.isprintable())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_a_checkpoint(path, why: str) -> ParameterError:
    return ParameterError(
        f"`resume` must continue from a checkpoint written by fluctinit train; {str(path)!r} is not one "
        f"({why}); delete it, or pass `overwrite` to start the run again",
        ["resume", "overwrite"], [True, False],
    )


def read_checkpoint(path: str | os.PathLike, *, device: str = "cpu") -> dict[str, Any]:
    """Load the checkpoint at ``path`` (tensors mapped to ``device``) and check its layout.

    Only tensors and plain data are unpickled (``weights_only=True``), so reading a foreign
    file never runs its code.

    Returns:
        The checkpoint dict (the keys :data:`CHECKPOINT_KEYS`, ``rng``, ``elapsed_s``).

    Raises:
        ParameterError: one line naming ``path`` and what is wrong -- not readable, empty,
            not a torch file (random or foreign bytes), a damaged or truncated torch file, or a
            torch file that holds something other than a fluctinit training checkpoint.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise _not_a_checkpoint(path, f"cannot be read: {err.strerror or err}") from None
    if not head:
        raise _not_a_checkpoint(path, "an empty file")
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        raise _not_a_checkpoint(path, "not a torch file: random or foreign bytes")
    if not zipfile.is_zipfile(path):
        raise _not_a_checkpoint(path, "a truncated or damaged torch file")
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds; each becomes one line
        why = ("a torch file holding objects other than tensors and plain data, which no checkpoint holds"
               if "weights only" in str(err).lower() else f"a torch file that cannot be loaded: {_first_line(err)}")
        raise _not_a_checkpoint(path, why) from None
    if not isinstance(ck, dict):
        raise _not_a_checkpoint(path, f"a torch file holding a {type(ck).__name__}, not a training checkpoint")
    missing = [k for k in CHECKPOINT_KEYS if k not in ck]
    if missing:
        raise _not_a_checkpoint(path, f"a torch file without {', '.join(missing)}")
    kinds = {"config": dict, "model": dict, "optimizer": dict, "history": list}
    bad = [k for k, t in kinds.items() if not isinstance(ck[k], t)]
    for k in ("seed", "epoch"):
        if isinstance(ck[k], bool) or not isinstance(ck[k], int) or ck[k] < 0:
            bad.append(k)
    if bad or not isinstance(ck["config"].get("training"), dict):
        raise _not_a_checkpoint(path, f"a torch file whose {', '.join(bad) or 'config'} is not a checkpoint's")
    return ck


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and other values are leaves)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def run_differences(
    saved_config: dict[str, Any], saved_seed: Any, config: dict[str, Any], seed: int, *, epochs: bool = False
) -> list[str]:
    """Every setting in which a stored run differs from ``config``/``seed``, as
    ``"training.lr 0.02 -> 0.1"`` (stored value first, ``absent`` where one side lacks it);
    ``source`` is never compared, ``training.epochs`` only with ``epochs=True``."""
    skip = {"source"} if epochs else {"source", "training.epochs"}

    def leaves(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in _flat(d).items() if k not in skip and k.split(".")[0] not in skip}

    a, b = leaves(saved_config), leaves(config)
    show = lambda d, k: repr(d[k]) if k in d else "absent"  # noqa: E731
    rows = [f"{k} {show(a, k)} -> {show(b, k)}" for k in sorted(set(a) | set(b))
            if k not in a or k not in b or a[k] != b[k]]
    if saved_seed != seed:
        rows.append(f"seed {saved_seed!r} -> {seed!r}")
    return rows


def _listing(rows: list[str], most: int = 4) -> str:
    return "; ".join(rows[:most]) + (f"; and {len(rows) - most} more" if len(rows) > most else "")


def check_same_run(checkpoint: dict[str, Any], config: dict[str, Any], seed: int, path) -> None:
    """Raise unless ``checkpoint`` comes from a run with this config and seed (epochs may differ).

    Raises:
        ParameterError: naming the checkpoint and every setting that differs, stored value
            first (``training.lr 0.02 -> 0.1``).
    """
    diff = run_differences(checkpoint["config"], checkpoint["seed"], config, seed)
    if diff:
        raise ParameterError(
            f"`resume` needs the same config and seed as the checkpoint {str(path)!r}; they differ: "
            f"{_listing(diff)} (use another `out`, or `overwrite` to replace the run)",
            ["resume", "out", "overwrite"], [True, None, False],
        )


def check_weights_fit(checkpoint: dict[str, Any], config: dict[str, Any], path) -> None:
    """Raise unless the checkpoint's weights have the names and shapes of the model ``config``
    builds (the same config from another code version may build another model).

    Builds the model only (no data, no initialization), so a resume that cannot load the
    weights stops before any data are made.

    Raises:
        ParameterError: naming ``path`` and the first weight that does not fit.
    """
    from .model import build_model

    with torch.device("meta"):  # shapes only: no memory, no random numbers
        want = {k: tuple(v.shape) for k, v in build_model(config, generator=None).state_dict().items()}
    have = {k: tuple(v.shape) for k, v in checkpoint["model"].items() if isinstance(v, torch.Tensor)}
    if have != want:
        odd = sorted(set(want) ^ set(have)) or [k for k in sorted(want) if want[k] != have[k]]
        k = odd[0]
        raise _not_a_checkpoint(
            path, f"its weights do not fit the model of this config: {k} {have.get(k, 'absent')} "
                  f"where the model has {want.get(k, 'absent')}",
        )
