"""A run's files.

One run is one experiment config trained for one seed (:func:`~fluctinit.training.loop.train_experiment`);
its checkpoint and results are ``<experiment>_<init>_seed<S>.ckpt`` / ``.json``
(:func:`run_name`), where ``<init>`` is ``fluctuation-sigma<sigma_u>`` or ``kaiming``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_name"]


def _init_tag(init: dict[str, Any]) -> str:
    return f"fluctuation-sigma{init['sigma_u']:g}" if init["method"] == "fluctuation" else "kaiming"


def run_name(config: dict[str, Any], seed: int) -> str:
    """File stem for one run, e.g. ``randman-ff_fluctuation-sigma1_seed0``."""
    return f"{config['name']}_{_init_tag(config['init'])}_seed{seed}"
