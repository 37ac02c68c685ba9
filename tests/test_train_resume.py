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


# ----------------------------------------------------------------------------- never lose a run
NAME0 = "randman-ff_fluctuation-sigma1_seed0"


def test_a_run_already_there_needs_resume_or_overwrite(tiny, tmp_path):
    c, data = tiny
    r1 = train_experiment(c, seed=0, epochs=1, data=data, out=tmp_path, progress=False)
    stored = (tmp_path / f"{NAME0}.json").read_bytes()
    with pytest.raises(ParameterError, match="already holds run"):
        train_experiment(c, seed=0, epochs=2, data=data, out=tmp_path, progress=False)
    assert (tmp_path / f"{NAME0}.json").read_bytes() == stored
    # resume of the finished run, same settings: the stored results, files untouched
    mtime = (tmp_path / f"{NAME0}.ckpt").stat().st_mtime_ns
    assert train_experiment(c, seed=0, epochs=1, data=data, out=tmp_path, progress=False, resume=True) == r1
    assert (tmp_path / f"{NAME0}.json").read_bytes() == stored
    assert (tmp_path / f"{NAME0}.ckpt").stat().st_mtime_ns == mtime
    # overwrite trains it again from the first epoch
    r2 = train_experiment(c, seed=0, epochs=2, data=data, out=tmp_path, progress=False, overwrite=True)
    assert r2["epochs_completed"] == 2 and r2["history"][0]["train_loss"] == r1["history"][0]["train_loss"]
    assert _state(tmp_path / f"{NAME0}.ckpt")["epoch"] == 2


def test_read_checkpoint_accepts_ours_and_names_what_is_wrong_with_others(tiny, tmp_path):
    from fluctinit.training import CHECKPOINT_KEYS, read_checkpoint

    c, data = tiny
    train_experiment(c, seed=0, epochs=1, data=data, out=tmp_path, progress=False)
    good = tmp_path / f"{NAME0}.ckpt"
    ck = read_checkpoint(good)
    assert set(CHECKPOINT_KEYS) <= set(ck) and ck["epoch"] == 1 and isinstance(ck["nu"], float)
    raw = good.read_bytes()
    bad = tmp_path / "bad.ckpt"
    for content, why in [(b"", "an empty file"), (b"\x80\x04garbage", "not a torch file"),
                         (raw[:100], "truncated"), (raw[: len(raw) - 1], "truncated")]:
        bad.write_bytes(content)
        with pytest.raises(ParameterError, match=why) as err:
            read_checkpoint(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    torch.save([1, 2], bad)
    with pytest.raises(ParameterError, match="holding a list"):
        read_checkpoint(bad)


def test_restore_names_weights_that_do_not_fit(tiny, tmp_path):
    from fluctinit.training import build_model, make_optimizer, restore_checkpoint_

    c, data = tiny
    train_experiment(c, seed=0, epochs=1, data=data, out=tmp_path, progress=False)
    model = build_model(dict(c, network=dict(c["network"], hidden=[16])), generator=torch.Generator().manual_seed(0))
    ck = _state(tmp_path / f"{NAME0}.ckpt")
    ck["model"] = {k: v[..., :1] for k, v in ck["model"].items()}
    torch.save(ck, tmp_path / "cut.ckpt")
    opt = make_optimizer("smorms3", model.parameters(), 0.01)
    with pytest.raises(ParameterError, match="its weights do not fit the model"):
        restore_checkpoint_(tmp_path / "cut.ckpt", model, opt, config=c, seed=0, device="cpu")
