"""A run's files and the summary over seeds.

One run is one experiment config trained for one seed (:func:`~fluctinit.training.train_experiment`);
its checkpoint and results are ``<experiment>_<init>_seed<S>.ckpt`` / ``.json``
(:func:`run_name`), where ``<init>`` is ``fluctuation-sigma<sigma_u>``,
``normal-mu<mu_w>-sigma<sigma_w>`` or ``kaiming``.
Several seeds of one experiment and initialization are summarized by
:func:`summarize_seeds` (mean and sample standard deviation of the final accuracies) into
``<experiment>_<init>_summary.json`` (:func:`write_seed_summary`).

Runs never lose or silently replace results.  :func:`plan_run` inspects what an output
folder already holds for one run and says what to do (:class:`RunPlan`: start, resume, or
nothing, the run being done), or refuses with one line naming the way out: a run already
there needs ``resume`` (continue it), ``overwrite`` (replace it) or another ``out``; a
checkpoint or results file of other settings is named with every setting that differs.
:func:`plan_runs` does so for several seeds and their summary, after checking that every
output path can be written -- all before any data are loaded.  :func:`hold_output` holds the
folder's lock for a whole run (two runs into one folder at once are refused) and removes the
temporary files that interrupted atomic writes left there.
"""

from __future__ import annotations

import json
import os
import statistics
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from fluctinit._io import FolderLock, atomic_write_json, check_output_path, remove_stale_temps
from fluctinit.errors import ParameterError, conflict

__all__ = [
    "run_name", "summary_name", "summarize_seeds", "write_seed_summary", "total_epochs", "priming_epochs", "RunPlan",
    "plan_run", "plan_runs", "read_results", "hold_output",
]

#: the final accuracies (keys of ``results["final"]``) a seed summary reports
SUMMARY_KEYS = ("train_accuracy", "validation_accuracy", "test_accuracy")


def _init_tag(init: dict[str, Any]) -> str:
    if init["method"] == "fluctuation":
        return f"fluctuation-sigma{init['sigma_u']:g}"
    if init["method"] == "normal":
        return f"normal-mu{init['mu_w']:g}-sigma{init['sigma_w']:g}"
    return "kaiming"


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


# ----------------------------------------------------------------------------- an output folder
def priming_epochs(config: dict[str, Any]) -> int:
    """Epochs of homeostatic priming before supervised training (0 unless homeostasis is "priming")."""
    tr = config["training"]
    return tr["priming_epochs"] if tr["homeostasis"] == "priming" else 0


def total_epochs(config: dict[str, Any]) -> int:
    """Epochs a run of ``config`` trains in all: priming plus ``training.epochs``."""
    return priming_epochs(config) + config["training"]["epochs"]


@dataclass(frozen=True)
class RunPlan:
    """What a run will do with the files an output folder holds for it (:func:`plan_run`).

    Attributes:
        name: the run's file stem (:func:`run_name`).
        seed: the run's seed.
        checkpoint, results: its checkpoint (``.ckpt``) and results (``.json``) paths.
        action: ``"start"`` (train from the first epoch), ``"resume"`` (continue from
            ``checkpoint``) or ``"done"`` (``results`` holds this very run, finished: nothing
            to train).
        epochs_done: epochs the checkpoint has done (priming included) for ``"resume"``; the
            run's total for ``"done"``; 0 for ``"start"``.
    """

    name: str
    seed: int
    checkpoint: Path
    results: Path
    action: str
    epochs_done: int = 0


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """A run's results JSON (as :func:`~fluctinit.training.train_experiment` writes it).

    Raises:
        ParameterError: ``path`` cannot be read or holds no run's results (one line naming it).
    """
    try:
        with open(path) as fh:
            r = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        r, why = None, getattr(err, "strerror", None) or str(err).splitlines()[0]
    else:
        why = "not the results of a run"
    if not (isinstance(r, dict) and isinstance(r.get("config"), dict) and "seed" in r and "final" in r):
        raise ParameterError(
            f"`out` must hold results files written by fluctinit train; {str(path)!r} is not one ({why}); "
            "delete it, or pass `overwrite` to train the run again",
            ["out", "overwrite"], [str(Path(path).parent), False],
        )
    return r


def _already_there(out, what: str, files: Sequence[Path]) -> ParameterError:
    return ParameterError(
        f"`out` {str(out)!r} already holds {what} ({', '.join(p.name for p in files)}); pass `resume` to continue "
        "it, `overwrite` to replace it, or choose another `out`",
        ["out", "resume", "overwrite"], [str(out), False, False],
    )


def _check_flags(resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise conflict("pass one: `resume` continues the runs there, `overwrite` replaces them",
                       resume=resume, overwrite=overwrite)


def plan_run(
    config: dict[str, Any], seed: int, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
) -> RunPlan:
    """Inspect ``out`` for the run of ``config`` and ``seed``; say what training it will do.

    Reads only; writes nothing.  Without ``resume`` or ``overwrite`` the folder must not hold
    the run's checkpoint or results.  With ``overwrite`` the run starts again (its files are
    replaced as training writes them).  With ``resume``: results of exactly this run (epochs
    included) make it ``"done"``; else a checkpoint of this run (any ``training.epochs`` up to
    the one asked for) is continued; else, with no file there, the run starts.

    Args:
        config: the run's config, overrides applied and validated
            (:func:`~fluctinit.training.resolve_config`).
        seed: the run's seed.  out: the output folder.
        resume, overwrite: as ``fluctinit train --resume`` / ``--overwrite`` (not both).

    Returns:
        A :class:`RunPlan`.

    Raises:
        ParameterError: (one line naming the option and the file) ``resume`` with
            ``overwrite``; an output path that cannot be written; the run's files present
            without ``resume``/``overwrite``; with ``resume``: a checkpoint that is not one
            (:func:`~fluctinit.training.read_checkpoint`) or of other settings (each one
            named), a checkpoint past the epochs asked for, results of other settings without
            a checkpoint to continue.
    """
    _check_flags(resume, overwrite)
    name = run_name(config, seed)
    check_output_path("out", out, kind="dir")
    ckpt = check_output_path("out", Path(out) / f"{name}.ckpt")
    results = check_output_path("out", Path(out) / f"{name}.json")
    plan = lambda action, done=0: RunPlan(name, seed, ckpt, results, action, done)  # noqa: E731
    if overwrite:
        return plan("start")
    existing = [p for p in (ckpt, results) if p.exists()]
    if not resume:
        if existing:
            raise _already_there(out, f"run {name}", existing)
        return plan("start")
    from .checkpoint import check_same_run, check_weights_fit, read_checkpoint, run_differences  # torch

    total = total_epochs(config)
    stored = read_results(results) if results.exists() and not ckpt.exists() else _maybe_results(results)
    if stored is not None and not run_differences(stored["config"], stored["seed"], config, seed, epochs=True):
        return plan("done", total)
    if ckpt.exists():
        ck = read_checkpoint(ckpt)
        check_same_run(ck, config, seed, ckpt)
        check_weights_fit(ck, config, ckpt)
        if ck["epoch"] > total:
            done = ck["epoch"] - priming_epochs(config)
            raise ParameterError(
                f"`epochs` must be at least {done} to resume {str(ckpt)!r}, which has done "
                f"{done} epoch{'s' if done != 1 else ''}; got {config['training']['epochs']} "
                "(use another `out` for a shorter run)",
                ["epochs", "out"], [config["training"]["epochs"], str(out)],
            )
        return plan("resume", ck["epoch"])
    if stored is not None:
        diff = run_differences(stored["config"], stored["seed"], config, seed, epochs=True)
        raise ParameterError(
            f"`resume` needs the checkpoint {str(ckpt)!r} to continue run {name}, and there is none; "
            f"{str(results)!r} holds the run with other settings: {'; '.join(diff[:4])} "
            "(`overwrite` trains it again from the start, or use another `out`)",
            ["resume", "overwrite", "out"], [True, False, str(out)],
        )
    return plan("start")


def _maybe_results(path: Path) -> dict[str, Any] | None:
    """The results at ``path`` if they are readable results, else None (a checkpoint is there
    to continue from, and the run's results will be written anew)."""
    if not path.exists():
        return None
    try:
        return read_results(path)
    except ParameterError:
        return None


def plan_runs(
    config: dict[str, Any], seeds: Sequence[int], out: str | os.PathLike, *, resume: bool = False,
    overwrite: bool = False,
) -> list[RunPlan]:
    """:func:`plan_run` for every seed, and with two or more seeds a check of their summary file.

    The summary (:func:`summary_name`) already there needs ``resume`` or ``overwrite`` too, and
    ``resume`` may rewrite it only with every seed it holds (the same seeds, or more).

    Raises:
        ParameterError: as :func:`plan_run`, or for the summary file.
    """
    plans = [plan_run(config, s, out, resume=resume, overwrite=overwrite) for s in seeds]
    if len(seeds) > 1:
        summary = check_output_path("out", Path(out) / f"{summary_name(config)}.json")
        if summary.exists() and not overwrite:
            if not resume:
                raise _already_there(out, f"the summary of {len(seeds)} seeds", [summary])
            stored = _stored_seeds(summary)
            if not (isinstance(stored, list) and set(stored) <= set(seeds)):
                raise ParameterError(
                    f"`resume` would replace the summary {str(summary)!r} over seeds {stored} by one over seeds "
                    f"{list(seeds)}; ask for all of its seeds, pass `overwrite`, or use another `out`",
                    ["resume", "overwrite", "out"], [True, False, str(out)],
                )
    return plans


def _stored_seeds(path: Path) -> Any:
    try:
        return json.loads(path.read_text()).get("seeds")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return "unreadable"


@contextmanager
def hold_output(out: str | os.PathLike) -> Iterator[list[Path]]:
    """Hold the lock of the output folder ``out`` for a whole run (all its seeds).

    Creates ``out`` if needed, takes its :class:`~fluctinit._io.FolderLock` and removes the
    temporary files interrupted atomic writes left there (:func:`~fluctinit._io.remove_stale_temps`);
    yields the removed paths.  The lock file ``out/.fluctinit.lock`` stays; the lock ends with
    the block (or the process).

    Raises:
        ParameterError: another process holds ``out`` (one line naming it).
    """
    with FolderLock(out, name="out"):
        yield remove_stale_temps(out)
