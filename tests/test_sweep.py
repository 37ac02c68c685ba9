"""`fluctinit sweep` on a Dask cluster in this process: the table, the record, cells equal to
`train_experiment`, failures, batches, refusals, the SLURM job script.

The library tests run a LocalCluster of worker threads in the test process (``processes=False``),
so that test doubles put in with monkeypatch reach the tasks; the command-line tests start one
worker process.
"""

import csv
import io
import json
import sys

import pytest
import torch

from fluctinit import cli, training
from fluctinit._io import FolderLock
from fluctinit.errors import ParameterError
from fluctinit.provenance import code_version
from fluctinit.training import Engine, load_experiment, parse_grid, run_sweep, train_experiment, train_sweep

IN_PROCESS = Engine(workers=1, processes=False)


def _config(**training_):
    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    c["name"] = "tiny"
    c["data"].update(samples_per_class=20, split=[16, 2, 2])
    c["network"]["hidden"] = [16]
    c["training"].update({"batch_size": 40, "epochs": 1, **training_})
    return c


def _file(tmp_path, **training_):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_config(**training_)))
    return path


def _table(out):
    with open(out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _sweep(tmp_path, grid, *, seeds=(0,), out="s", engine=IN_PROCESS, resume=False, terminal=False, **kw):
    config = load_experiment(_file(tmp_path))
    job = train_sweep(config, parse_grid(grid), seeds, tmp_path / out, **kw)
    stream = _Terminal() if terminal else io.StringIO()
    return run_sweep(job, tmp_path / out, engine=engine, resume=resume, stream=stream), stream.getvalue()


def _history(results):
    return [{k: v for k, v in h.items() if k != "elapsed_s"} for h in results["history"]]


def test_table_and_record(tmp_path, one_thread):
    summary, lines = _sweep(tmp_path, ["init.sigma_u=0.5,1"], seeds=(0, 1), epochs=2, batch_cells=1)
    out = tmp_path / "s"
    assert (summary.total, summary.done, summary.failed, summary.pending) == (4, 4, 0, 0)
    rows = _table(out)
    assert list(rows[0]) == ["init.sigma_u", "seed", "status", *training.TRAIN_COLUMNS, "rate_hz_0", "error", "folder"]
    assert [(r["init.sigma_u"], r["seed"], r["status"]) for r in rows] == [
        ("0.5", "0", "done"), ("0.5", "1", "done"), ("1", "0", "done"), ("1", "1", "done")]
    for row in rows:
        folder = out / row["folder"]
        results = json.loads((folder / f"tiny_fluctuation-sigma{row['init.sigma_u']}_seed{row['seed']}.json").read_text())
        assert float(row["train_accuracy"]) == results["final"]["train_accuracy"]
        assert float(row["valid_accuracy"]) == results["final"]["validation_accuracy"]
        assert float(row["test_accuracy"]) == results["final"]["test_accuracy"]
        assert int(row["best_valid_epoch"]) == results["best_validation"]["epoch"]
        assert float(row["best_valid_test_accuracy"]) == results["best_validation"]["test_accuracy"]
        assert row["epochs_to_90"] == ("" if results["recording"]["epochs_to_90_train"] is None
                                       else str(results["recording"]["epochs_to_90_train"]))
        assert float(row["rate_hz_0"]) == results["history"][-1]["rates_hz"][0]
        assert row["epochs_completed"] == "2" and row["error"] == ""
        assert results["config"]["init"]["sigma_u"] == float(row["init.sigma_u"]) and results["seed"] == int(row["seed"])
    record = json.loads((out / "sweep.json").read_text())
    want = _config()
    want["training"]["epochs"] = 2
    assert record["kind"] == "train" and record["base"] == want
    assert record["grid"] == {"init.sigma_u": [0.5, 1]} and record["seeds"] == [0, 1]
    assert record["code_version"] == code_version()
    assert record["engine"]["cluster"] == "local" and record["engine"]["threads_per_worker"] == 1
    assert record["engine"]["batch_cells"] == 1 and record["engine"]["device"] == "cpu"
    assert [c["name"] for c in record["cells"]] == [r["folder"].split("/")[1] for r in rows]
    assert len(record["sessions"]) == 1
    assert "\r" not in lines and len(lines.splitlines()) == 4  # one plain line per cell, no bar
    assert all("done" in line and "left" in line or "[4/4" in line for line in lines.splitlines())


def test_a_cell_is_the_run_train_experiment_makes(tmp_path, one_thread):
    _sweep(tmp_path, ["training.lr=0.01,0.03"], seeds=(2,), epochs=2, batch_cells=1)
    cell = tmp_path / "s" / "cells" / "lr=0.03_seed2"
    config = _config(lr=0.03)
    config["source"] = str((tmp_path / "tiny.json").resolve())
    alone = train_experiment(config, seed=2, epochs=2, out=tmp_path / "alone", progress=False)
    name = "tiny_fluctuation-sigma1_seed2"
    swept = json.loads((cell / f"{name}.json").read_text())
    assert _history(swept) == _history(alone) and swept["final"] == alone["final"]
    assert swept["config"] == json.loads(json.dumps(alone["config"]))
    a = torch.load(cell / f"{name}.ckpt", weights_only=False)["model"]
    b = torch.load(tmp_path / "alone" / f"{name}.ckpt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the other cell differs (the comparison can fail)
    other = json.loads((tmp_path / "s" / "cells" / "lr=0.01_seed2" / f"{name}.json").read_text())
    assert _history(other) != _history(alone)


def test_a_terminal_gets_a_bar(tmp_path, one_thread):
    _, text = _sweep(tmp_path, ["init.sigma_u=0.5,1"], batch_cells=1, terminal=True)
    assert "\r" in text and "cell" in text and "done=2" in text and "running=" in text  # the bar, redrawn
    assert "sigma_u=0.5_seed0: train " in text and "[2/2" not in text  # the lines, without the counts


def _raise_for_lr(monkeypatch, lr):
    from fluctinit.training import loop

    real = loop.train_experiment

    def flaky(config, **kw):
        if config["training"]["lr"] == lr:
            raise RuntimeError("boom\nin two lines")
        return real(config, **kw)

    monkeypatch.setattr(loop, "train_experiment", flaky)


def test_a_failing_cell_fails_alone(tmp_path, monkeypatch, one_thread):
    _raise_for_lr(monkeypatch, 0.013)
    summary, lines = _sweep(tmp_path, ["training.lr=0.01,0.013,0.02"], batch_cells=1)
    rows = _table(tmp_path / "s")
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert rows[1]["error"] == "RuntimeError: boom in two lines" and rows[1]["train_accuracy"] == ""
    assert (summary.done, summary.failed) == (2, 1)
    assert "lr=0.013_seed0: FAILED: RuntimeError: boom in two lines" in lines


def test_batches_go_through_train_batched_and_a_failed_batch_runs_cell_by_cell(tmp_path, monkeypatch, one_thread):
    from fluctinit.training import batched, loop

    calls = []

    def recording(configs, *, seed, outs, **kw):  # the interface, kept by training cell by cell
        calls.append(([c["init"]["sigma_u"] for c in configs], seed))
        if any(c["init"]["sigma_u"] == 2 for c in configs):
            raise RuntimeError("a batch that breaks")
        return [loop.train_experiment(c, seed=seed, out=o, **kw) for c, o in zip(configs, outs)]

    monkeypatch.setattr(batched, "batch_key", lambda config, seed: f"one-{seed}")
    monkeypatch.setattr(batched, "max_batch_cells", lambda config, **kw: 2)
    monkeypatch.setattr(batched, "CPU_BATCH_CELLS", 2)  # batch on this CPU although it pays only on a GPU
    monkeypatch.setattr(batched, "train_batched", recording)
    summary, lines = _sweep(tmp_path, ["init.sigma_u=0.5,1,2,4"], seeds=(0, 1))
    assert summary.done == 8
    assert sorted(calls) == sorted([([0.5, 1], 0), ([0.5, 1], 1), ([2, 4], 0), ([2, 4], 1)])
    assert lines.count("failed (RuntimeError: a batch that breaks); running them one by one") == 2
    alone = train_experiment(load_experiment(_file(tmp_path)), seed=1, sigma_u=4, out=tmp_path / "a", progress=False)
    swept = json.loads((tmp_path / "s" / "cells" / "sigma_u=4_seed1" / "tiny_fluctuation-sigma4_seed1.json").read_text())
    assert _history(swept) == _history(alone)
    # K = 1: no batches; None keys: no batches
    calls.clear()
    _sweep(tmp_path, ["init.sigma_u=0.5,1"], out="k1", batch_cells=1)
    monkeypatch.setattr(batched, "batch_key", lambda config, seed: None)
    _sweep(tmp_path, ["init.sigma_u=0.5,1"], out="none")
    assert calls == []


def test_batches_are_spread_over_the_workers(tmp_path, monkeypatch):
    from fluctinit.training import batched
    from fluctinit.training.sweep_cells import batch_tasks

    monkeypatch.setattr(batched, "batch_key", lambda config, seed: "same")
    monkeypatch.setattr(batched, "max_batch_cells", lambda config, **kw: 8)
    config = load_experiment(_file(tmp_path))
    job = train_sweep(config, parse_grid(["init.sigma_u=linspace(0.5,2,8)"]), [0], tmp_path / "s")
    sizes = lambda workers, k=None: [len(t.cells) for t in batch_tasks(  # noqa: E731
        job.cells, Engine(), workers, "topic", {**job.settings, "batch_cells": k})]
    monkeypatch.setattr(batched, "CPU_BATCH_CELLS", 16)
    assert sizes(1) == [8] and sizes(2) == [4, 4] and sizes(3) == [3, 3, 2] and sizes(8) == [1] * 8
    monkeypatch.setattr(batched, "CPU_BATCH_CELLS", 2)  # a CPU batches no more than this unless told
    assert sizes(1) == [2, 2, 2, 2] and sizes(1, k=8) == [8]
    assert sizes(1, k=3) == [3, 3, 2] and sizes(4, k=1) == [1] * 8
    cuda = train_sweep(config, parse_grid(["init.sigma_u=0.5,1"]), [0], tmp_path / "g", device="cuda", check_cuda=False)
    tasks = batch_tasks(cuda.cells, Engine(), 2, "topic", {**cuda.settings, "batch_cells": 1})
    assert [t.resources for t in tasks] == [{"GPU": 1}, {"GPU": 1}]


def test_refusals_before_any_cell_runs(tmp_path, capsys):
    path, out = _file(tmp_path), tmp_path / "s"
    (out / "cells").mkdir(parents=True)
    base = ["sweep", str(path), "--out", str(out), "--grid", "init.sigma_u=0.5,1", "--quiet"]
    assert cli.main(base) == 2  # cells but no sweep.json: not a sweep to continue
    assert "holds cells but no sweep.json" in capsys.readouterr().err
    (out / "cells").rmdir()
    record = train_sweep(load_experiment(path), parse_grid(["init.sigma_u=0.5,1"]), [0], out).record(Engine())
    (out / "sweep.json").write_text(json.dumps({**record, "sessions": []}))
    assert cli.main(base) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a sweep (sweep.json); pass `--resume`" in err
    assert cli.main([*base[:-2], "init.sigma_u=0.5,2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "it differs: grid init.sigma_u [0.5, 1] -> [0.5, 2]" in err
    assert cli.main([*base, "--resume", "--seeds", "2"]) == 2
    assert "seeds [0] -> [0, 1]" in capsys.readouterr().err
    assert cli.main([*base, "--resume", "--epochs", "0"]) == 2
    assert "config training.epochs 1 -> 0 (the epochs of a sweep may grow on resume, not shrink)" in \
        capsys.readouterr().err
    path.write_text(json.dumps(_config(lr=0.1)))
    assert cli.main([*base, "--resume"]) == 2
    assert "config training.lr 0.005 -> 0.1" in capsys.readouterr().err
    path.write_text(json.dumps(_config()))
    with FolderLock(out):  # a sweep running there
        assert cli.main([*base, "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"`--out` {str(out)!r} is in use by process" in err
    assert not (out / "cells").exists() and not (out / "results.csv").exists()


def test_resume_runs_only_what_is_missing(tmp_path, monkeypatch, one_thread):
    _raise_for_lr(monkeypatch, 0.02)
    _sweep(tmp_path, ["training.lr=0.01,0.02"], batch_cells=1)
    done = tmp_path / "s" / "cells" / "lr=0.01_seed0" / "tiny_fluctuation-sigma1_seed0.json"
    stamp = done.stat().st_mtime_ns
    monkeypatch.undo()
    summary, lines = _sweep(tmp_path, ["training.lr=0.01,0.02"], batch_cells=1, resume=True)
    assert (summary.done, summary.stored) == (2, 1) and done.stat().st_mtime_ns == stamp
    assert "1 of 2 cells stored, 0 continue from a checkpoint, 1 start" in lines
    assert [r["status"] for r in _table(tmp_path / "s")] == ["done", "done"]
    assert len(json.loads((tmp_path / "s" / "sweep.json").read_text())["sessions"]) == 2
    with pytest.raises(ParameterError, match="already holds a sweep"):
        _sweep(tmp_path, ["training.lr=0.01,0.02"], batch_cells=1)
    # more epochs: every cell continues from its checkpoint, as `fluctinit train --resume --epochs` does
    first = json.loads(done.read_text())
    summary, lines = _sweep(tmp_path, ["training.lr=0.01,0.02"], batch_cells=1, resume=True, epochs=2)
    assert summary.done == 2 and "0 of 2 cells stored, 2 continue from a checkpoint, 0 start" in lines
    longer = json.loads(done.read_text())
    assert [h["epoch"] for h in longer["history"]] == [1, 2] and longer["history"][0] == first["history"][0]
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["base"]["training"]["epochs"] == 2
    assert {r["epochs_completed"] for r in _table(tmp_path / "s")} == {"2"}


def test_validate_sweep_matches_fluctinit_validate(tmp_path, capsys):
    out = tmp_path / "v"
    opts = ["--neurons", "16", "--trials", "2", "--duration", "0.2"]
    assert cli.main(["sweep", "validate", "poisson", *opts, "--grid", "sigma_u=0.5,2", "--grid", "nu=5,10",
                     "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert "4 of 4 cells done" in capsys.readouterr().out
    rows = _table(out)
    assert list(rows[0])[:4] == ["sigma_u", "nu", "seed", "status"] and "nu_measured" in rows[0]
    assert [(r["sigma_u"], r["nu"], r["status"]) for r in rows] == [
        ("0.5", "5", "done"), ("0.5", "10", "done"), ("2", "5", "done"), ("2", "10", "done")]
    assert cli.main(["validate", "poisson", *opts, "--sigma-u", "2", "--nu", "10", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    row = rows[3]
    for key in ("sigma_u_target", "sigma_u_measured", "sigma_u_predicted", "ratio", "ratio_sem", "mu_u_measured"):
        assert float(row[key]) == alone[key], key
    assert float(row["nu_measured"]) == alone["nu"]
    report = json.loads((out / row["folder"] / "report.json").read_text())
    assert report["report"]["sigma_u_measured"] == alone["sigma_u_measured"] and report["options"]["nu"] == 10.0
    assert json.loads((out / "sweep.json").read_text())["kind"] == "validate"
    assert cli.main(["sweep", "validate", "poisson", *opts, "--grid", "sigma_u=0.5,2", "--grid", "nu=5,10",
                     "--out", str(out), "--resume"]) == 0
    assert "4 of 4 cells done" in capsys.readouterr().out


def test_validate_sweep_of_an_fsdd_file_is_named_fsdd(tmp_path, capsys):
    import numpy as np
    from test_membrane_cli import write_fsdd_file

    path, out = tmp_path / "fsdd_train.h5", tmp_path / "v"
    write_fsdd_file(path, np.random.default_rng(4), 3)
    opts = ["--path", str(path), "--neurons", "8"]
    assert cli.main(["sweep", "validate", "fsdd", *opts, "--grid", "sigma_u=0.5", "--out", str(out), "--workers", "1",
                     "--quiet"]) == 0
    assert "1 of 1 cells done" in capsys.readouterr().out
    report = json.loads((out / _table(out)[0]["folder"] / "report.json").read_text())["report"]
    assert cli.main(["validate", "fsdd", *opts, "--sigma-u", "0.5", "--json"]) == 0
    assert report == json.loads(capsys.readouterr().out) and report["data"] == "fsdd"


def test_gpu_workers_offer_one_gpu_each():
    from fluctinit.training.sweep_cluster import open_client

    with open_client(Engine(workers=2, processes=False), device="cuda", n_tasks=4) as (client, n):
        info = client.scheduler_info()["workers"]
        assert n == 2 and [w["resources"] for w in info.values()] == [{"GPU": 1}, {"GPU": 1}]


def test_slurm_job_script(monkeypatch):
    pytest.importorskip("dask_jobqueue")
    from fluctinit.training import parse_slurm, slurm_cluster

    opts = parse_slurm("queue=gpu,walltime=02:00:00,cores=4,memory=16GB,gpus=1,account=lab")
    assert opts == {"queue": "gpu", "walltime": "02:00:00", "cores": 4, "memory": "16GB", "gpus": 1, "account": "lab"}
    cluster = slurm_cluster(opts, threads_per_worker=2, device="cuda")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH -t 02:00:00", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --gres=gpu:1", "--nthreads 1", "--resources GPU=1"):
        assert line in script, (line, script)
    assert "--nworkers" not in script  # one worker for the job's one GPU
    cluster = slurm_cluster(parse_slurm("queue=cpu,walltime=01:00:00,cores=4"), threads_per_worker=2)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p cpu", "#SBATCH --cpus-per-task=4", "--nthreads 1", "--nworkers 2"):
        assert line in script, (line, script)
    assert "gres" not in script and "GPU" not in script
    with pytest.raises(ParameterError, match="at least `threads_per_worker` cores"):
        slurm_cluster({"cores": 1}, threads_per_worker=2)
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # not installed
    with pytest.raises(ParameterError, match=r"pip install fluctinit\[cluster\]"):
        slurm_cluster(opts)


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    from fluctinit.training import sweep_cluster

    monkeypatch.setattr(sweep_cluster, "SCHEDULER_TIMEOUT_S", 2)
    out = tmp_path / "s"
    assert cli.main(["sweep", str(_file(tmp_path)), "--out", str(out), "--grid", "init.sigma_u=1",
                     "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`--scheduler` must be the address of a running Dask scheduler" in err
    assert not (out / "sweep.json").exists()
