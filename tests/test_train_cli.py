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
