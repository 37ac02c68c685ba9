"""`fluctinit train` and `fluctinit experiments` (fluctinit.cli.train)."""

import json

import pytest

from fluctinit import cli


def test_experiments_lists_every_config(capsys):
    from fluctinit.training.experiments import list_experiments

    assert cli.main(["experiments"]) == 0
    out = capsys.readouterr().out
    for name in list_experiments():
        assert name in out
    assert cli.main(["experiments", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(list_experiments())


@pytest.mark.parametrize("name, file", [("shd-ff", "shd_train.h5"), ("cifar10-conv4", "cifar-10-python.tar.gz"),
                                        ("dvs-conv8", "trials_to_train.txt")])
def test_missing_data_exits_2_with_one_line(name, file, tmp_path, capsys):
    assert cli.main(["train", name, "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and file in err and str(tmp_path) in err
    assert not (tmp_path / "o").exists()  # stopped before anything was written


@pytest.mark.parametrize(
    "argv, flag",
    [(["--sigma-u", "-1"], "--sigma-u"), (["--epochs", "-2"], "--epochs"), (["--seeds", "0"], "--seeds"),
     (["--seed", "-1"], "--seed")],
)
def test_bad_flags_exit_2_naming_the_flag(argv, flag, tmp_path, capsys):
    assert cli.main(["train", "randman-ff", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"`{flag}`" in err


def test_unknown_experiment_exits_2(capsys):
    assert cli.main(["train", "no-such-thing"]) == 2
    assert "`experiment`" in capsys.readouterr().err


def test_train_a_copied_config_two_seeds_and_resume(tmp_path, capsys):
    from fluctinit.training.experiments import load_experiment

    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    c["name"] = "tiny"
    c["data"].update(samples_per_class=10, split=[8, 1, 1])
    c["network"]["hidden"] = [8]
    c["training"].update(batch_size=40)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(c))
    out = tmp_path / "runs"
    argv = ["train", str(path), "--epochs", "1", "--seeds", "2", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "seed 0" in text and "seed 1" in text and "over 2 seeds" in text
    summary = json.loads((out / "tiny_fluctuation-sigma1_summary.json").read_text())
    assert len(summary["test_accuracy"]["values"]) == 2
    r0 = json.loads((out / "tiny_fluctuation-sigma1_seed0.json").read_text())
    assert r0["config"]["name"] == "tiny" and r0["epochs_completed"] == 1
    # --resume with more epochs continues from the checkpoint
    assert cli.main(["train", str(path), "--epochs", "2", "--seed", "0", "--out", str(out), "--quiet", "--resume"]) == 0
    r0b = json.loads((out / "tiny_fluctuation-sigma1_seed0.json").read_text())
    assert r0b["epochs_completed"] == 2 and r0b["history"][0] == r0["history"][0]


# ----------------------------------------------------------------------------- runs into one --out
def _tiny(tmp_path, name="tiny", **training):
    """A copied Randman config shrunk to seconds: 80 training samples, 8 hidden units."""
    from fluctinit.training.experiments import load_experiment

    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    c["name"] = name
    c["data"].update(samples_per_class=10, split=[8, 1, 1])
    c["network"]["hidden"] = [8]
    c["training"].update({"batch_size": 40, "epochs": 1, **training})
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(c))
    return str(path)


RUN = "tiny_fluctuation-sigma1_seed0"


def test_redirected_stderr_gets_lines_not_bar_redraws(tmp_path):
    # stderr to a file (a log): the bar is off (stderr is no terminal), one line per epoch remains.
    import subprocess
    import sys

    cfg = _tiny(tmp_path, batch_size=10)  # 8 batches per epoch: a bar would redraw 8+ times
    epochs = 3
    with open(tmp_path / "stderr.txt", "w") as err:
        done = subprocess.run([sys.executable, "-m", "fluctinit", "train", cfg, "--epochs", str(epochs),
                               "--out", str(tmp_path / "o")], stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=300)
    text = (tmp_path / "stderr.txt").read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == epochs, text  # exactly the per-epoch lines
    assert all(f"epoch {i + 1}/{epochs}" in line for i, line in enumerate(lines))
    assert len(text) < 200 * epochs
    assert "seed 0" in done.stdout


def test_resume_of_a_finished_run_returns_it_untouched(tmp_path, capsys):
    cfg, out = _tiny(tmp_path), tmp_path / "o"
    assert cli.main(["train", cfg, "--out", str(out), "--quiet"]) == 0
    first = capsys.readouterr().out
    files = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if not p.name.startswith(".")}
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--resume"]) == 0
    again = capsys.readouterr().out
    assert "stored" in again and "stored" not in first
    assert again.split("(")[0] == first.split("(")[0]  # the same accuracies
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()
            if not p.name.startswith(".")} == files


def test_overwrite_replaces_the_run(tmp_path, capsys):
    cfg, out = _tiny(tmp_path), tmp_path / "o"
    assert cli.main(["train", cfg, "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / f"{RUN}.json").read_text())["epochs_completed"] == 1
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--epochs", "2"]) == 2  # refused ...
    assert json.loads((out / f"{RUN}.json").read_text())["epochs_completed"] == 1  # ... and kept
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--epochs", "2", "--overwrite"]) == 0
    r = json.loads((out / f"{RUN}.json").read_text())
    assert r["epochs_completed"] == 2 and [h["epoch"] for h in r["history"]] == [1, 2]


def test_stale_temps_are_removed_and_missing_checkpoints_noted(tmp_path, capsys):
    cfg, out = _tiny(tmp_path), tmp_path / "o"
    out.mkdir()
    stale = out / f".tmp-{RUN}.json.x1y2.tmp"
    stale.write_text("half a result")
    keep = out / "notes.tmp"  # not an atomic write's temp file: stays
    keep.write_text("mine")
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--resume"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert not stale.exists() and keep.read_text() == "mine"
    assert any("removed 1 temporary file" in line for line in err), err
    assert any(f"no checkpoint of {RUN}" in line for line in err), err
    assert (out / f"{RUN}.json").is_file()


def test_the_folder_is_locked_for_every_seed(tmp_path, monkeypatch, capsys):
    from fluctinit import training
    from fluctinit._io import FolderLock
    from fluctinit.errors import ParameterError

    cfg, out = _tiny(tmp_path), tmp_path / "o"
    real, refused = training.train_experiment, []

    def probing(*args, **kwargs):  # a second writer trying the folder while each seed trains
        try:
            with FolderLock(out):
                refused.append(False)
        except ParameterError as err:
            refused.append("in use" in str(err))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_experiment", probing)
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--seeds", "2"]) == 0
    assert refused == [True, True]
    with FolderLock(out):  # released at the end
        pass


def test_resume_extends_the_seeds_and_their_summary(tmp_path, capsys):
    cfg, out = _tiny(tmp_path), tmp_path / "o"
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--seeds", "2"]) == 0
    capsys.readouterr()
    assert cli.main(["train", cfg, "--out", str(out), "--quiet", "--seeds", "3", "--resume"]) == 0
    text = capsys.readouterr().out
    assert text.count("stored") == 2 and "over 3 seeds" in text
    s = json.loads((out / "tiny_fluctuation-sigma1_summary.json").read_text())
    assert s["seeds"] == [0, 1, 2]


def test_training_data_without_spikes_warns_once(tmp_path, monkeypatch, capsys):
    import torch

    from fluctinit import training

    cfg = _tiny(tmp_path)
    silent = training.TensorSplit(torch.zeros(8, 100, 20), torch.arange(8) % 10)
    spiking = training.TensorSplit(torch.ones(2, 100, 20), torch.arange(2))
    monkeypatch.setattr(training, "load_data", lambda *a, **k: training.Splits(silent, spiking, spiking))
    assert cli.main(["train", cfg, "--out", str(tmp_path / "o"), "--quiet", "--seeds", "2"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if "warning" in line]
    assert warnings == ["fluctinit train: warning: the training split of experiment 'tiny' holds no spike: the "
                        "network gets no input and cannot learn (check the data set)"], err
    # spikes in the training split: no warning
    monkeypatch.setattr(training, "load_data", lambda *a, **k: training.Splits(spiking, spiking, spiking))
    assert cli.main(["train", cfg, "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- FSDD
def test_train_fsdd_ff_from_data_root(tmp_path, capsys, one_thread):
    """`fluctinit train fsdd-ff --data-root DIR` as shipped, one epoch on tiny generated files in
    FSDD's converted layout (SHD's HDF5 layout with a `channels` attribute; test_train_e2e's writer)."""
    from test_train_e2e import write_fsdd

    root, out = tmp_path / "fsdd", tmp_path / "runs"
    root.mkdir()
    write_fsdd(root, n_train=40, n_test=12)
    argv = ["train", "fsdd-ff", "--data-root", str(root), "--epochs", "1", "--out", str(out), "--quiet", "--strict"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("fsdd-ff seed 0: train ")
    r = json.loads((out / "fsdd-ff_fluctuation-sigma1_seed0.json").read_text())
    assert r["config"]["data"]["dataset"] == "fsdd" and r["epochs_completed"] == 1
    assert r["nu_hz"] == r["config"]["init"]["nu"]  # the config's rate sets the weights
    assert 0.0 <= r["final"]["test_accuracy"] <= 1.0 and len(r["history"]) == 1


def test_train_fsdd_refuses_files_of_another_channel_count(tmp_path, capsys):
    from test_train_e2e import write_fsdd

    write_fsdd(tmp_path, n_train=8, n_test=4, channels=800)  # units 0..699 of 800 channels
    argv = ["train", "fsdd-ff", "--data-root", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fluctinit train: error: "), err
    assert "fsdd_train.h5: 800 channels" in err and "`network.n_in` = 700" in err
