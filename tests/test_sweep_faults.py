"""`fluctinit sweep` survives faults: the whole sweep killed (kill -9 of its process group) and
resumed, a worker process killed mid-cell; a second sweep into a folder in use is refused; a
log (stderr not a terminal) gets plain lines, no bar redraws.

Each test runs the command line in a process group of its own, with one worker process; the
uninterrupted runs they compare with train on one thread, as the workers do (the float sums of
a training step depend on the thread count)."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fluctinit.training import Engine, load_experiment, parse_grid, run_sweep, train_experiment, train_sweep

GRID = ["--grid", "init.sigma_u=0.5,1,2"]
EPOCHS = 8


def _config_file(tmp_path, epochs):
    """Cells of about a second each: 480 training samples in 12 batches per epoch."""
    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    c["name"] = "tiny"
    c["data"].update(samples_per_class=60, split=[48, 6, 6])
    c["network"]["hidden"] = [16]
    c["training"].update(batch_size=40, epochs=epochs)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(c))
    return path


def _start(path, out, err, *extra):
    argv = [sys.executable, "-m", "fluctinit", "sweep", str(path), *GRID, "--out", str(out), "--workers", "1",
            "--batch-cells", "1", *extra]  # cell by cell, whatever the grid-batched trainer would group
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)


def _wait(predicate, proc, timeout=180.0):
    t0 = time.monotonic()
    while not predicate():
        assert proc.poll() is None, "the sweep ended before the moment the test waits for"
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.02)


def _results(folder):
    return [p for p in folder.glob("*.json")]


def _rows(out):
    with open(out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _history(results):
    return [{k: v for k, v in h.items() if k != "elapsed_s"} for h in results["history"]]


def _uninterrupted(path, sigma_u, out):
    config = load_experiment(path)
    return train_experiment(config, seed=0, sigma_u=sigma_u, out=out, progress=False)


def test_the_whole_sweep_killed_and_resumed(tmp_path, one_thread):
    path, out = _config_file(tmp_path, epochs=EPOCHS), tmp_path / "s"
    cells = out / "cells"

    def state():  # (cells finished, cells with a checkpoint and no results yet)
        folders = sorted(cells.glob("*")) if cells.is_dir() else []
        return ([f for f in folders if _results(f)],
                [f for f in folders if list(f.glob("*.ckpt")) and not _results(f)])

    with open(tmp_path / "err1.txt", "w") as err:
        proc = _start(path, out, err)
        try:
            _wait(lambda: (out / "sweep.json").exists(), proc)
            other = subprocess.run([sys.executable, "-m", "fluctinit", "sweep", str(path), *GRID, "--out", str(out),
                                    "--resume"], capture_output=True, text=True, timeout=120)
            _wait(lambda: all(state()), proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and its workers at once
            proc.wait()
    assert other.returncode == 2 and other.stderr.count("\n") == 1 and "is in use by process" in other.stderr
    log = (tmp_path / "err1.txt").read_text()
    assert "\r" not in log and "\x1b" not in log  # a log: plain lines, no bar redraws
    assert ": train " in log.splitlines()[0]
    rows = _rows(out)
    assert len(rows) == 3 and len({r["folder"] for r in rows}) == 3
    finished, partial = state()
    assert len(finished) in (1, 2) and len(partial) == 1  # one worker: one cell at a time
    first, second = finished[0], partial[0]
    stored = next(first.glob("*.json"))
    stamp = stored.stat().st_mtime_ns
    ckpt = next(second.glob("*.ckpt"))
    done_before = torch.load(ckpt, weights_only=False)["epoch"]
    assert 1 <= done_before < EPOCHS

    # resumed here, in this process (a second command line would only add its start-up time)
    job = train_sweep(load_experiment(path), parse_grid(GRID[1:]), [0], out, batch_cells=1)
    stream = io.StringIO()
    summary = run_sweep(job, out, engine=Engine(workers=1, processes=False), resume=True, stream=stream)
    lines = stream.getvalue()
    n = len(finished)
    assert (summary.done, summary.stored) == (3, n)
    assert f"{n} of 3 cells stored, 1 continue from a checkpoint, {2 - n} start" in lines
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["done"] * 3 and len({r["folder"] for r in rows}) == 3
    assert stored.stat().st_mtime_ns == stamp  # the finished cell was not trained again
    resumed = json.loads(next(second.glob("*.json")).read_text())
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, EPOCHS + 1))
    sigma_u = float(second.name.split("_seed")[0].split("=")[1])
    assert _history(resumed) == _history(_uninterrupted(path, sigma_u, tmp_path / "alone"))
    assert len(json.loads((out / "sweep.json").read_text())["sessions"]) == 2


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_cell_continues(tmp_path, one_thread):
    import psutil

    path, out = _config_file(tmp_path, epochs=EPOCHS), tmp_path / "s"
    first = out / "cells" / "sigma_u=0.5_seed0"
    with open(tmp_path / "err.txt", "w") as err:
        proc = _start(path, out, err)
        try:
            _wait(lambda: list(first.glob("*.ckpt")), proc)
            workers = [c for c in psutil.Process(proc.pid).children()
                       if "spawn_main" in " ".join(c.cmdline())]
            assert len(workers) == 1
            os.kill(workers[0].pid, signal.SIGKILL)
            stdout, _ = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    log = (tmp_path / "err.txt").read_text()
    assert proc.returncode == 0, log
    assert "sigma_u=0.5_seed0: started again (attempt 2" in log and "1 restarted" in stdout
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["done"] * 3
    cell = json.loads(next(first.glob("*.json")).read_text())
    assert [h["epoch"] for h in cell["history"]] == list(range(1, EPOCHS + 1))
    assert _history(cell) == _history(_uninterrupted(path, 0.5, tmp_path / "alone"))
