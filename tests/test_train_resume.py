"""Checkpoints, exact resume and the results file."""

import json

import pytest
import torch

from fluctinit.errors import ParameterError
from fluctinit.training.experiments import load_experiment
from fluctinit._io import atomic_write_json
from fluctinit.training import load_data, train_experiment


@pytest.fixture(scope="module")
def tiny():
    c = load_experiment("randman-ff")
    c["data"].update(samples_per_class=20, split=[16, 2, 2])
    c["training"].update(batch_size=40, lr=0.02)
    c["network"]["hidden"] = [16]
    return c, load_data(c)


def _state(path):
    return torch.load(path, weights_only=False)


def test_two_epochs_equal_one_plus_resume_one(tiny, tmp_path, one_thread):
    c, data = tiny
    a, b = tmp_path / "a", tmp_path / "b"
    ra = train_experiment(c, seed=3, epochs=2, data=data, out=a, progress=False)
    train_experiment(c, seed=3, epochs=1, data=data, out=b, progress=False)
    rb = train_experiment(c, seed=3, epochs=2, data=data, out=b, progress=False, resume=True)
    name = "randman-ff_fluctuation-sigma1_seed3"
    sa, sb = _state(a / f"{name}.ckpt"), _state(b / f"{name}.ckpt")
    assert sa["epoch"] == sb["epoch"] == 2
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    for k, v in sa["optimizer"]["state"].items():
        for kk in v:
            assert torch.equal(torch.as_tensor(v[kk]), torch.as_tensor(sb["optimizer"]["state"][k][kk]))
    drop = lambda h: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in h]  # noqa: E731
    assert drop(ra["history"]) == drop(rb["history"])
    assert ra["final"] == rb["final"]
    # A different seed gives different weights (the comparison can fail).
    rc = train_experiment(c, seed=4, epochs=1, data=data, out=tmp_path / "c", progress=False)
    sc = _state(tmp_path / "c" / "randman-ff_fluctuation-sigma1_seed4.ckpt")
    assert not torch.equal(sc["model"]["network.hidden.0.weight"], sa["model"]["network.hidden.0.weight"])
    assert rc["seed"] == 4


def test_results_file_contents_and_no_temp_files(tiny, tmp_path):
    c, data = tiny
    r = train_experiment(c, seed=0, epochs=1, data=data, out=tmp_path, progress=False)
    on_disk = json.loads((tmp_path / "randman-ff_fluctuation-sigma1_seed0.json").read_text())
    for key in ("config", "seed", "code_version", "history", "final", "recording", "time_s"):
        assert key in on_disk
    assert set(on_disk["final"]) >= {"train_accuracy", "validation_accuracy", "test_accuracy"}
    h = on_disk["history"][0]
    assert len(h["rates_hz"]) == 1 and len(h["sg_magnitude"]) == 2 and len(h["dw_magnitude"]) == 2
    assert on_disk["code_version"]["fluctinit"]
    assert r["final"] == on_disk["final"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "randman-ff_fluctuation-sigma1_seed0.ckpt", "randman-ff_fluctuation-sigma1_seed0.json"]


def test_resume_refuses_a_different_config(tiny, tmp_path):
    c, data = tiny
    train_experiment(c, seed=0, epochs=1, data=data, out=tmp_path, progress=False)
    c2 = json.loads(json.dumps(c))
    c2["training"]["lr"] = 0.1
    with pytest.raises(ParameterError, match="`resume`"):
        train_experiment(c2, seed=0, epochs=2, data=data, out=tmp_path, progress=False, resume=True)


def test_kaiming_and_sigma_overrides_name_the_run(tiny, tmp_path):
    c, data = tiny
    r = train_experiment(c, seed=0, epochs=0, init="kaiming", data=data, out=tmp_path, progress=False)
    assert r["config"]["init"]["method"] == "kaiming"
    assert (tmp_path / "randman-ff_kaiming_seed0.json").is_file()
    train_experiment(c, seed=0, epochs=0, sigma_u=0.5, data=data, out=tmp_path, progress=False)
    assert (tmp_path / "randman-ff_fluctuation-sigma0.5_seed0.json").is_file()


def test_bad_arguments(tiny, tmp_path):
    c, data = tiny
    with pytest.raises(ParameterError, match="`seed`"):
        train_experiment(c, seed=-1, data=data, out=tmp_path)
    with pytest.raises(ParameterError, match="`init.sigma_u`"):
        train_experiment(c, sigma_u=-1.0, data=data, out=tmp_path)
    with pytest.raises(ParameterError, match="`device`"):
        train_experiment(c, device="tpu", data=data, out=tmp_path)


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"b": torch.tensor([1.0, 2.0])})
    assert json.loads(p.read_text()) == {"b": [1.0, 2.0]}
    assert [q.name for q in tmp_path.iterdir()] == ["r.json"]
