"""A run's files and the summary over seeds.

One run is one experiment config trained for one seed (:func:`~fluctinit.training.train_experiment`);
its checkpoint and results are ``<experiment>_<init>_seed<S>.ckpt`` / ``.json``
(:func:`run_name`), where ``<init>`` is ``fluctuation-sigma<sigma_u>`` or ``kaiming``.
Several seeds of one experiment and initialization are summarized by
:func:`summarize_seeds` (mean and sample standard deviation of the final accuracies) into
``<experiment>_<init>_summary.json`` (:func:`write_seed_summary`).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any, Sequence

from fluctinit._io import atomic_write_json
from fluctinit.errors import ParameterError, conflict

__all__ = ["run_name", "summary_name", "summarize_seeds", "write_seed_summary"]

#: the final accuracies (keys of ``results["final"]``) a seed summary reports
SUMMARY_KEYS = ("train_accuracy", "validation_accuracy", "test_accuracy")


def _init_tag(init: dict[str, Any]) -> str:
    return f"fluctuation-sigma{init['sigma_u']:g}" if init["method"] == "fluctuation" else "kaiming"


def run_name(config: dict[str, Any], seed: int) -> str:
    """File stem for one run, e.g. ``randman-ff_fluctuation-sigma1_seed0``."""
    return f"{config['name']}_{_init_tag(config['init'])}_seed{seed}"


def summary_name(config: dict[str, Any]) -> str:
    """File stem of the summary over seeds, e.g. ``randman-ff_fluctuation-sigma1_summary``."""
    return f"{config['name']}_{_init_tag(config['init'])}_summary"


def summarize_seeds(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds of the final accuracies.

    Args:
        results: the results dicts of :func:`~fluctinit.training.train_experiment`, one per
            seed, all of one experiment and initialization (at least two).

    Returns:
        ``{"experiment", "seeds", "init", "train_accuracy", "validation_accuracy",
        "test_accuracy", "time_s_per_seed"}``; each accuracy ``{"mean", "std", "values"}``
        (``std``: the sample standard deviation, ``n - 1`` in the denominator), the time
        ``{"mean", "values"}`` in seconds.

    Raises:
        ParameterError: fewer than two results, or results of different experiments or
            initializations.
    """
    results = list(results)
    if len(results) < 2:
        raise ParameterError(
            f"`results` must hold at least 2 runs (a standard deviation needs two); got {len(results)}",
            ["results"], [len(results)],
        )
    first = results[0]
    for r in results[1:]:
        if r["experiment"] != first["experiment"] or r["config"]["init"] != first["config"]["init"]:
            raise conflict(
                "results of different experiments or initializations cannot be summarized together; "
                "pass the seeds of one run",
                experiment=[x["experiment"] for x in results],
                init=[x["config"]["init"] for x in results],
            )
    summary: dict[str, Any] = {
        "experiment": first["experiment"], "seeds": [r["seed"] for r in results], "init": first["config"]["init"],
    }
    for key in SUMMARY_KEYS:
        values = [r["final"][key] for r in results]
        summary[key] = {"mean": statistics.fmean(values), "std": statistics.stdev(values), "values": values}
    times = [r["time_s"] for r in results]
    summary["time_s_per_seed"] = {"mean": statistics.fmean(times), "values": times}
    return summary


def write_seed_summary(results: Sequence[dict[str, Any]], out: str | os.PathLike) -> dict[str, Any]:
    """:func:`summarize_seeds`, written atomically to ``out/<summary_name>.json``; returns the summary."""
    summary = summarize_seeds(results)
    atomic_write_json(Path(out) / f"{summary_name(results[0]['config'])}.json", summary)
    return summary
