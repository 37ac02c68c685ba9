"""Run names, the summary over seeds, the input rate of the initialization and the device check."""

import json
import math

import pytest

from fluctinit import training
from fluctinit.errors import ParameterError


def _result(seed, test_acc, *, experiment="tiny", init=None, time_s=10.0):
    init = init or {"method": "fluctuation", "sigma_u": 1.0}
    final = {"train_accuracy": 0.5 + test_acc / 2, "validation_accuracy": test_acc, "test_accuracy": test_acc}
    return {"experiment": experiment, "seed": seed, "config": {"name": experiment, "init": init},
            "final": final, "time_s": time_s}


def test_run_and_summary_names():
    fl = {"name": "randman-ff", "init": {"method": "fluctuation", "sigma_u": 0.5}}
    ka = {"name": "randman-ff", "init": {"method": "kaiming", "sigma_u": 1.0}}
    assert training.run_name(fl, 3) == "randman-ff_fluctuation-sigma0.5_seed3"
    assert training.run_name(ka, 0) == "randman-ff_kaiming_seed0"
    assert training.summary_name(fl) == "randman-ff_fluctuation-sigma0.5_summary"
    assert training.summary_name(ka) == "randman-ff_kaiming_summary"


def test_summary_is_mean_and_sample_std():
    # Two values a, b: mean (a + b)/2, sample std |a - b|/sqrt(2) (n - 1 = 1 in the denominator).
    rs = [_result(0, 0.6, time_s=10.0), _result(1, 0.8, time_s=30.0)]
    s = training.summarize_seeds(rs)
    assert s["experiment"] == "tiny" and s["seeds"] == [0, 1] and s["init"] == rs[0]["config"]["init"]
    t = s["test_accuracy"]
    assert t["values"] == [0.6, 0.8]
    assert t["mean"] == pytest.approx(0.7, rel=1e-12)
    assert t["std"] == pytest.approx(0.2 / math.sqrt(2), rel=1e-12)
    assert s["train_accuracy"]["mean"] == pytest.approx(0.85, rel=1e-12)
    assert s["time_s_per_seed"] == {"mean": 20.0, "values": [10.0, 30.0]}
    # three values 0, 0.5, 1: sample variance ((0.5)^2 * 2) / 2 = 0.25
    s3 = training.summarize_seeds([_result(i, a) for i, a in enumerate((0.0, 0.5, 1.0))])
    assert s3["test_accuracy"]["std"] == pytest.approx(0.5, rel=1e-12)


def test_summary_refuses_one_run_or_mixed_runs():
    with pytest.raises(ParameterError, match="`results` must hold at least 2 runs"):
        training.summarize_seeds([_result(0, 0.5)])
    with pytest.raises(ParameterError, match="`experiment`.*`init`"):
        training.summarize_seeds([_result(0, 0.5), _result(1, 0.5, experiment="other")])
    with pytest.raises(ParameterError, match="`init`"):
        training.summarize_seeds([_result(0, 0.5), _result(1, 0.5, init={"method": "kaiming", "sigma_u": 1.0})])


def test_write_seed_summary_writes_one_complete_file(tmp_path):
    rs = [_result(0, 0.6), _result(1, 0.8)]
    s = training.write_seed_summary(rs, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tiny_fluctuation-sigma1_summary.json"]
    assert json.loads((tmp_path / "out" / "tiny_fluctuation-sigma1_summary.json").read_text()) == s


def test_input_rate_from_config_loader_or_error():
    import torch

    c = training.load_experiment("randman-ff")
    c["network"]["hidden"] = [4]
    model = training.build_model(c)
    empty = training.TensorSplit(torch.zeros(2, 3, 20), torch.zeros(2))
    assert training.input_rate(c, model, training.Splits(empty, empty, empty, nu=7.0)) == c["init"]["nu"]
    c["init"]["nu"] = "measured"
    assert training.input_rate(c, model, training.Splits(empty, empty, empty, nu=7.0)) == 7.0
    with pytest.raises(ParameterError, match="no measurement available"):
        training.input_rate(c, model, training.Splits(empty, empty, empty, nu=None))
    with pytest.raises(ParameterError, match="silent"):
        training.input_rate(c, model, training.Splits(empty, empty, empty, nu=0.0))


def test_check_device():
    import torch

    assert training.check_device("cpu") == "cpu"
    with pytest.raises(ParameterError, match="`device`"):
        training.check_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="without CUDA"):
            training.check_device("cuda")


# ----------------------------------------------------------------------------- an output folder
def _tiny_config():
    c = training.load_experiment("randman-ff")
    c["data"].update(samples_per_class=10, split=[8, 1, 1])
    c["network"]["hidden"] = [8]
    c["training"].update(batch_size=40, epochs=1)
    return c


NAME = "randman-ff_fluctuation-sigma1_seed0"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An output folder holding seed 0 of the tiny config, trained 1 epoch."""
    out = tmp_path_factory.mktemp("finished")
    c = _tiny_config()
    training.train_experiment(c, seed=0, out=out, progress=False)
    return c, out


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_plan_of_an_empty_folder_starts_and_writes_nothing(tmp_path):
    c = _tiny_config()
    p = training.plan_run(c, 0, tmp_path / "new")
    assert (p.action, p.epochs_done, p.name) == ("start", 0, NAME)
    assert p.checkpoint == tmp_path / "new" / f"{NAME}.ckpt" and p.results == tmp_path / "new" / f"{NAME}.json"
    assert not (tmp_path / "new").exists()
    assert training.plan_run(c, 0, tmp_path / "new", resume=True).action == "start"


def test_plan_of_a_folder_holding_the_run(finished, tmp_path):
    c, out = finished
    with pytest.raises(ParameterError, match=r"`out` .* already holds run .*`resume`.*`overwrite`"):
        training.plan_run(c, 0, out)
    assert training.plan_run(c, 1, out).action == "start"  # another seed is another run
    assert training.plan_run(c, 0, out, overwrite=True).action == "start"
    done = training.plan_run(c, 0, out, resume=True)
    assert (done.action, done.epochs_done) == ("done", 1)
    longer = json.loads(json.dumps(c))
    longer["training"]["epochs"] = 3
    p = training.plan_run(longer, 0, out, resume=True)
    assert (p.action, p.epochs_done) == ("resume", 1)
    shorter = json.loads(json.dumps(c))
    shorter["training"]["epochs"] = 0
    with pytest.raises(ParameterError, match=r"`epochs` must be at least 1 to resume .*; got 0"):
        training.plan_run(shorter, 0, out, resume=True)
    other = json.loads(json.dumps(c))
    other["training"]["lr"] = 0.5
    other["network"]["tau_mem"] = 0.03
    with pytest.raises(ParameterError, match=r"network.tau_mem 0.02 -> 0.03; training.lr 0.005 -> 0.5"):
        training.plan_run(other, 0, out, resume=True)
    with pytest.raises(ParameterError, match="`resume`=True, `overwrite`=True"):
        training.plan_run(c, 0, out, resume=True, overwrite=True)
    # results without their checkpoint: done if they are this run, else nothing to continue from
    bare = _copy(out, tmp_path / "bare")
    (bare / f"{NAME}.ckpt").unlink()
    assert training.plan_run(c, 0, bare, resume=True).action == "done"
    with pytest.raises(ParameterError, match=r"needs the checkpoint .* training.epochs 1 -> 3"):
        training.plan_run(longer, 0, bare, resume=True)


def test_plan_runs_guards_the_summary(finished, tmp_path):
    c, out = finished
    out = _copy(out, tmp_path / "o")
    summary = out / f"{training.summary_name(c)}.json"
    summary.write_text(json.dumps({"seeds": [0, 1]}))
    with pytest.raises(ParameterError, match="summary of 2 seeds"):
        training.plan_runs(c, [1, 2], out)  # seed 0 not asked for, yet the summary is there
    assert [p.action for p in training.plan_runs(c, [0, 1, 2], out, resume=True)] == ["done", "start", "start"]
    with pytest.raises(ParameterError, match=r"over seeds \[0, 1\] by one over seeds \[1, 2\]"):
        training.plan_runs(c, [1, 2], out, resume=True)
    assert len(training.plan_runs(c, [1, 2], out, overwrite=True)) == 2


def test_hold_output_locks_and_clears_stale_temps(tmp_path):
    from fluctinit._io import FolderLock

    out = tmp_path / "o"
    out.mkdir()
    stale = [out / ".tmp-r.json.abc.tmp", out / ".tmp-r.ckpt.def.tmp"]
    for p in stale:
        p.write_text("half")
    (out / "r.json").write_text("{}")
    with training.hold_output(out) as removed:
        assert sorted(removed) == sorted(stale) and not any(p.exists() for p in stale)
        with pytest.raises(ParameterError, match="`out` .* is in use by process"):
            with FolderLock(out):
                pass
    assert (out / "r.json").read_text() == "{}"
    with training.hold_output(out) as removed:  # released, and nothing left to remove
        assert removed == []


def test_inapplicable_options():
    c = _tiny_config()
    assert training.inapplicable_options(c) == {
        "dataset randman (it is generated; no files are read)": ("data_root", "strict")}
    c["init"]["method"] = "kaiming"
    assert training.inapplicable_options(c)["init kaiming"] == ("sigma_u",)
    assert training.inapplicable_options(training.load_experiment("shd-ff")) == {}
    with pytest.raises(ParameterError, match="`sigma_u` does not apply to init kaiming; got 0.5"):
        training.train_experiment(_tiny_config(), init="kaiming", sigma_u=0.5, out="never-written")


def test_kaiming_on_a_dale_network_is_refused_before_the_data(tmp_path):
    c = training.load_experiment("shd-dale")
    # no SHD files under tmp_path: the init is refused first
    with pytest.raises(ParameterError, match="`init.method` must be 'fluctuation' for Dale's-law networks"):
        training.train_experiment(c, init="kaiming", data_root=tmp_path, out=tmp_path / "o")
    c["init"]["method"] = "kaiming"
    with pytest.raises(ParameterError, match="`init.method` must be 'fluctuation' for Dale's-law networks"):
        training.resolve_config(c)
    assert not (tmp_path / "o").exists()


def test_run_differences_name_the_stored_value_first():
    a = {"training": {"lr": 1.0, "epochs": 3}, "init": {"nu": 5.0}, "source": "x"}
    b = {"training": {"lr": 2.0, "epochs": 4}, "init": {}, "source": "y"}
    assert training.run_differences(a, 0, b, 0) == ["init.nu 5.0 -> absent", "training.lr 1.0 -> 2.0"]
    assert training.run_differences(a, 0, b, 1, epochs=True) == [
        "init.nu 5.0 -> absent", "training.epochs 3 -> 4", "training.lr 1.0 -> 2.0", "seed 0 -> 1"]
    assert training.run_differences(a, 0, dict(a, source="z"), 0, epochs=True) == []


def test_has_spikes_sees_the_trained_window_only():
    import numpy as np
    import torch

    from fluctinit.datasets import SpikeDataset
    from fluctinit.training.data import _SpikeSplit

    assert training.has_spikes(training.TensorSplit(torch.zeros(3, 5, 2), torch.zeros(3))) is False
    x = torch.zeros(3, 5, 2)
    x[2, 4, 1] = 1.0
    assert training.has_spikes(training.TensorSplit(x, torch.zeros(3))) is True
    # one spike at 0.15 s: inside a 0.2 s window of 100 steps of 2 ms, outside one of 50 steps
    ds = SpikeDataset(np.array([0.15]), np.array([0]), np.array([0, 1, 1]), np.array([0, 1]), 2, 0.2)
    assert training.has_spikes(_SpikeSplit(ds, 2e-3, 100, torch.float32, None)) is True
    assert training.has_spikes(_SpikeSplit(ds, 2e-3, 50, torch.float32, None)) is False
    assert training.has_spikes(object()) is None  # not known: no claim


def test_silent_training_split_warns_once_per_run(tmp_path):
    import warnings

    import torch

    c = _tiny_config()
    silent = training.TensorSplit(torch.zeros(8, 100, 20), torch.arange(8) % 10)
    data = training.Splits(silent, silent, silent)
    with pytest.warns(training.SilentDataWarning, match="holds no spike") as record:
        training.train_experiment(c, seed=0, epochs=2, data=data, out=tmp_path / "a", progress=False)
    assert len([w for w in record if issubclass(w.category, training.SilentDataWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", training.SilentDataWarning)
        # nothing to train (0 epochs): no warning
        training.train_experiment(c, seed=0, epochs=0, data=data, out=tmp_path / "b", progress=False)


def test_every_shipped_model_can_be_checked_against_a_checkpoint(finished):
    # check_weights_fit builds each model on the meta device (shapes only).
    import torch

    c, out = finished
    ck = training.read_checkpoint(out / f"{NAME}.ckpt")
    training.check_weights_fit(ck, c, "x.ckpt")
    for name in training.list_experiments():  # every shipped model builds (8 hidden units are none of them)
        with pytest.raises(ParameterError, match="do not fit the model of this config"):
            training.check_weights_fit(ck, training.load_experiment(name), "x.ckpt")
    ck["model"] = {k: torch.zeros(1) for k in ck["model"]}
    with pytest.raises(ParameterError, match=r"'x.ckpt' is not one \(its weights do not fit"):
        training.check_weights_fit(ck, c, "x.ckpt")
