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
