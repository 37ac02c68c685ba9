"""Checkpoints: a run's complete state after every epoch, written atomically, and exact resume.

A checkpoint holds the (validated) config and seed, the model and optimizer states, the
:class:`Progress` of the run (epochs done, the initialization rate, the history, the
first step's recording, the time spent) and, as a record only, the RNG states.  Training
draws every random number from generators seeded by ``(seed, epoch)``, so restoring the
weights, the optimizer and the progress is enough to continue a run exactly
(tests/test_train_resume.py).  A checkpoint resumes only the run it came from: same config
(but for ``training.epochs``: a resumed run may train longer) and the same seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from fluctinit._io import atomic_path
from fluctinit.errors import ParameterError

__all__ = ["Progress", "atomic_torch_save", "save_checkpoint", "restore_checkpoint_"]


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
            "config": config, "seed": seed, "epoch": progress.epoch, "nu": progress.nu,
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
        ParameterError: the checkpoint's config (``training.epochs`` and ``source`` aside) or
            seed differ from ``config`` and ``seed``.
    """
    ck = torch.load(path, map_location=device, weights_only=False)
    _check_same_run(ck, config, seed, path)
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    # Training draws no numbers from torch's global generators (all randomness comes from
    # explicit generators seeded by (seed, epoch)), so the saved global states are a record
    # only and are not written back: library code leaves global RNG state alone.
    return Progress(
        nu=ck["nu"], epoch=ck["epoch"], elapsed_s=ck.get("elapsed_s", 0.0),
        history=ck["history"], recorded_init=ck["recorded_init"],
    )


def _check_same_run(checkpoint: dict[str, Any], config: dict[str, Any], seed: int, path) -> None:
    """Raise unless ``checkpoint`` comes from a run with this config and seed (epochs may differ)."""
    saved = {k: v for k, v in checkpoint["config"].items() if k != "source"}
    mine = {k: v for k, v in config.items() if k != "source"}
    saved_t = dict(saved["training"], epochs=None)
    mine_t = dict(mine["training"], epochs=None)
    if dict(saved, training=saved_t) != dict(mine, training=mine_t) or checkpoint["seed"] != seed:
        raise ParameterError(
            f"`resume` needs the same config and seed as the checkpoint {str(path)!r}; "
            "they differ (start without --resume or use another --out)",
            ["resume"], [True],
        )
