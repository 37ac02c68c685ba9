"""Experiment configs against their schema (training/schema.py): every bad config is one
ParameterError naming the key path, before any data are generated.

Each case edits a shipped config (``training/experiments/<base>.json``) and names the key path
the error must name.  The same cases go through ``fluctinit train bad.json``: exit status 2 and
one stderr line, with the data loaders replaced by ones that fail if called.
"""

import copy
import json
import math
import subprocess
import sys

import pytest

from fluctinit.errors import ParameterError
from fluctinit.training import schema
from fluctinit.training.experiments import SECTIONS, list_experiments, load_experiment, validate_experiment

DELETE = object()


def shipped(name: str) -> dict:
    return {k: v for k, v in load_experiment(name).items() if k != "source"}


def edited(base: str, edits: dict) -> dict:
    """``base`` with ``edits`` applied: dotted key -> new value (``DELETE`` removes the key)."""
    c = copy.deepcopy(shipped(base))
    for dotted, value in edits.items():
        *parents, key = dotted.split(".")
        node = c
        for p in parents:
            node = node[p]
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return c


R, S, C3, D, CI, DV = "randman-ff", "shd-ff", "shd-conv3-rec", "shd-dale", "cifar10-conv2", "dvs-conv6"

# (id, base config, edits, key path the error must name)
BAD = [
    # wrong JSON types: the string "false" is not a bool, 10.0 not an integer, ...
    ("recurrent-string-false", R, {"network.recurrent": "false"}, "network.recurrent"),
    ("dale-string-true", R, {"network.dale": "true"}, "network.dale"),
    ("skip-int", R, {"network.skip": 0}, "network.skip"),
    ("zero-constant-int", R, {"data.zero_constant": 1}, "data.zero_constant"),
    ("epochs-float", R, {"training.epochs": 10.0}, "training.epochs"),
    ("batch-size-string", R, {"training.batch_size": "400"}, "training.batch_size"),
    ("lr-string", R, {"training.lr": "0.005"}, "training.lr"),
    ("lr-bool", R, {"training.lr": True}, "training.lr"),
    ("n-out-float", R, {"network.n_out": 10.0}, "network.n_out"),
    ("hidden-string", R, {"network.hidden": "128"}, "network.hidden"),
    ("hidden-item-float", R, {"network.hidden": [128.0]}, "network.hidden[0]"),
    ("hidden-item-bool", R, {"network.hidden": [64, True]}, "network.hidden[1]"),
    ("split-string", R, {"data.split": "800,100,100"}, "data.split"),
    ("nu-null", R, {"init.nu": None}, "init.nu"),
    ("nu-bool", R, {"init.nu": True}, "init.nu"),
    ("tau-mem-bool", R, {"network.tau_mem": True}, "network.tau_mem"),
    ("name-int", R, {"name": 5}, "name"),
    ("description-int", R, {"description": 3}, "description"),
    ("paper-figure-int", R, {"paper.figure": 3}, "paper.figure"),
    ("paper-parameters-int", C3, {"paper.parameters": 51536}, "paper.parameters"),
    ("data-list", R, {"data": []}, "data"),
    ("network-string", R, {"network": "dense"}, "network"),
    ("training-null", R, {"training": None}, "training"),
    ("encoder-list", CI, {"network.encoder": [5]}, "network.encoder"),
    ("kernel-size-string", C3, {"network.kernel_size": "3"}, "network.kernel_size"),
    ("stride-item-float", C3, {"network.stride": [10, 3.0, 3]}, "network.stride[1]"),
    # unknown and misspelt keys, at every level
    ("top-misspelt", R, {"trainig": {}}, "trainig"),
    ("top-unknown", R, {"extra": 1}, "extra"),
    ("data-unknown", R, {"data.lr": 0.1}, "data.lr"),
    ("data-misspelt", R, {"data.frequency": "printed"}, "data.frequency"),
    ("data-other-dataset", R, {"data.validation_fraction": 0.1}, "data.validation_fraction"),
    ("data-randman-key-on-shd", S, {"data.n_units": 700}, "data.n_units"),
    ("data-dvs-key-on-shd", S, {"data.size": 32}, "data.size"),
    ("network-misspelt", R, {"network.recurent": True}, "network.recurent"),
    ("network-conv-key-on-dense", R, {"network.padding": 1}, "network.padding"),
    ("network-encoder-on-conv1d", C3, {"network.encoder": {"fan_out": 5}}, "network.encoder"),
    ("encoder-misspelt", CI, {"network.encoder.fan_outt": 5}, "network.encoder.fan_outt"),
    ("init-misspelt", R, {"init.sigma": 1.0}, "init.sigma"),
    ("init-unknown", R, {"init.xi": 1.0}, "init.xi"),
    ("training-misspelt", R, {"training.lrr": 0.01}, "training.lrr"),
    ("training-unknown", R, {"training.learning_rate": 0.01}, "training.learning_rate"),
    ("paper-unknown", R, {"paper.notes": "x"}, "paper.notes"),
    ("lr-misspelt-instead", R, {"training.lr": DELETE, "training.lrr": 0.005}, "training.lrr"),
    ("lr-renamed", R, {"training.lr": DELETE, "training.learning_rate": 0.005}, "training.learning_rate"),
    # missing keys
    ("no-lr", R, {"training.lr": DELETE}, "training.lr"),
    ("no-dt", R, {"data.dt": DELETE}, "data.dt"),
    ("no-hidden", R, {"network.hidden": DELETE}, "network.hidden"),
    ("no-nu", R, {"init.nu": DELETE}, "init.nu"),
    ("no-name", R, {"name": DELETE}, "name"),
    ("no-network", R, {"network": DELETE}, "network"),
    ("no-dataset", R, {"data.dataset": DELETE}, "data.dataset"),
    ("no-kind", R, {"network.kind": DELETE}, "network.kind"),
    ("no-kernel-size", C3, {"network.kernel_size": DELETE}, "network.kernel_size"),
    ("no-fan-out", CI, {"network.encoder.fan_out": DELETE}, "network.encoder.fan_out"),
    # values out of range
    ("dt-zero", R, {"data.dt": 0.0}, "data.dt"),
    ("dt-large", R, {"data.dt": 0.5}, "data.dt"),
    ("duration-negative", R, {"data.duration": -1.0}, "data.duration"),
    ("duration-nan", R, {"data.duration": math.nan}, "data.duration"),
    ("duration-below-one-step", S, {"data.duration": 0.0005}, "data.duration"),
    ("dataset-unknown", R, {"data.dataset": "mnist"}, "data.dataset"),
    ("validation-fraction-one", S, {"data.validation_fraction": 1.0}, "data.validation_fraction"),
    ("drop-probability", DV, {"data.drop_probability": 1.5}, "data.drop_probability"),
    ("dvs-size-not-a-divisor", DV, {"data.size": 48}, "data.size"),
    ("randman-seed-negative", R, {"data.seed": -1}, "data.seed"),
    ("spike-window-zero", R, {"data.spike_window": 0.0}, "data.spike_window"),
    ("frequencies-option", R, {"data.frequencies": "print"}, "data.frequencies"),
    ("kind-unknown", R, {"network.kind": "lstm"}, "network.kind"),
    ("n-out-one", R, {"network.n_out": 1}, "network.n_out"),
    ("tau-mem-zero", R, {"network.tau_mem": 0.0}, "network.tau_mem"),
    ("theta-negative", R, {"network.theta": -1.0}, "network.theta"),
    ("tau-out-inf", R, {"network.tau_out": math.inf}, "network.tau_out"),
    ("padding-negative", C3, {"network.padding": -1}, "network.padding"),
    ("rec-kernel-even", C3, {"network.rec_kernel_size": 4}, "network.rec_kernel_size"),
    ("pool-every-three", CI, {"network.pool_every": 3}, "network.pool_every"),
    ("in-channels-zero", C3, {"network.in_channels": 0}, "network.in_channels"),
    ("fan-out-zero", CI, {"network.encoder.fan_out": 0}, "network.encoder.fan_out"),
    ("sigma-u-zero", R, {"init.sigma_u": 0.0}, "init.sigma_u"),
    ("alpha-large", R, {"init.alpha": 1.5}, "init.alpha"),
    ("method-unknown", R, {"init.method": "he"}, "init.method"),
    ("nu-negative", R, {"init.nu": -1.0}, "init.nu"),
    ("nu-misspelt", R, {"init.nu": "measure"}, "init.nu"),
    ("optimizer-unknown", R, {"training.optimizer": "rmsprop"}, "training.optimizer"),
    ("surrogate-unknown", R, {"training.surrogate": "sigmoid"}, "training.surrogate"),
    ("homeostasis-unknown", R, {"training.homeostasis": "on"}, "training.homeostasis"),
    ("epochs-negative", R, {"training.epochs": -1}, "training.epochs"),
    ("beta-inf", R, {"training.beta": math.inf}, "training.beta"),
    ("lambda-upper-negative", R, {"training.lambda_upper": -0.1}, "training.lambda_upper"),
    # lists inconsistent with the layers, and other rules across keys
    ("hidden-empty", R, {"network.hidden": []}, "network.hidden"),
    ("hidden-item-zero", R, {"network.hidden": [128, 0]}, "network.hidden[1]"),
    ("kernel-size-short", C3, {"network.kernel_size": [3, 3]}, "network.kernel_size"),
    ("kernel-size-item-zero", C3, {"network.kernel_size": [21, 0, 7]}, "network.kernel_size[1]"),
    ("kernel-size-too-large", C3, {"network.kernel_size": [21, 7, 70]}, "network.kernel_size[2]"),
    ("stride-long", CI, {"network.stride": [1, 1, 1]}, "network.stride"),
    ("n-inh-short", "shd-conv3-dale", {"network.n_inh": [4, 8]}, "network.n_inh"),
    ("n-inh-without-dale", D, {"network.dale": False}, "network.n_inh"),
    ("dale-without-n-inh", D, {"network.n_inh": DELETE}, "network.n_inh"),
    ("dale-without-recurrent", D, {"network.recurrent": DELETE}, "network.recurrent"),
    ("n-in-two-d-short", CI, {"network.n_in": [32]}, "network.n_in"),
    ("split-two-items", R, {"data.split": [800, 100]}, "data.split"),
    ("split-sum", R, {"data.split": [800, 100, 50]}, "data.split"),
    ("samples-per-class-sum", R, {"data.split": DELETE, "data.samples_per_class": 500}, "data.samples_per_class"),
    ("spike-window-longer-than-trial", R, {"data.spike_window": 0.3}, "data.spike_window"),
    ("trial-shorter-than-default-window", R, {"data.spike_window": DELETE, "data.duration": 0.05}, "data.duration"),
    ("priming-without-epochs", C3, {"training.homeostasis": "priming", "training.priming_epochs": 0},
     "training.priming_epochs"),
    ("homeostasis-without-lambda", C3, {"training.homeostasis": "ongoing", "training.lambda_lower": 0.0},
     "training.lambda_lower"),
    # the network against its data set
    ("n-in-randman", R, {"network.n_in": 700}, "network.n_in"),
    ("n-in-randman-units", R, {"data.n_units": 30}, "network.n_in"),
    ("n-in-shd", S, {"network.n_in": 20}, "network.n_in"),
    ("n-in-shd-conv", C3, {"network.n_in": 350}, "network.n_in"),
    ("n-in-cifar", CI, {"network.n_in": [32, 31]}, "network.n_in"),
    ("n-in-dvs-size", DV, {"data.size": 16}, "network.n_in"),
    ("in-channels-shd", C3, {"network.in_channels": 2}, "network.in_channels"),
    ("in-channels-dvs", DV, {"network.in_channels": 3}, "network.in_channels"),
    ("n-out-shd", S, {"network.n_out": 10}, "network.n_out"),
    ("n-out-fsdd", "fsdd-ff", {"network.n_out": 20}, "network.n_out"),  # ten digits, not SHD's 20 classes
    ("n-in-fsdd", "fsdd-conv3", {"network.n_in": 350}, "network.n_in"),
    ("n-out-randman", R, {"network.n_out": 5}, "network.n_out"),
    ("n-out-randman-classes", R, {"data.n_classes": 4}, "network.n_out"),
    ("kind-for-cifar", C3, {"data.dataset": "cifar10"}, "network.kind"),
    ("cifar-without-encoder", CI, {"network.encoder": DELETE}, "network.encoder"),
    ("encoder-on-dvs", DV, {"network.encoder": {"fan_out": 5}}, "network.encoder"),
    ("measured-rate-dvs", DV, {"init.nu": "measured"}, "init.nu"),
    ("kaiming-dale", D, {"init.method": "kaiming"}, "init.method"),
    # names that would leave --out, or are no file name
    ("name-parent", R, {"name": "../escaped"}, "name"),
    ("name-subfolder", R, {"name": "a/b"}, "name"),
    ("name-absolute", R, {"name": "/tmp/x"}, "name"),
    ("name-backslash", R, {"name": "a\\b"}, "name"),
    ("name-empty", R, {"name": ""}, "name"),
    ("name-dot", R, {"name": "."}, "name"),
    ("name-dotdot", R, {"name": ".."}, "name"),
    ("name-space", R, {"name": "my run"}, "name"),
    ("name-nul", R, {"name": "a\x00b"}, "name"),
    ("name-newline", R, {"name": "a\nb"}, "name"),
    ("name-long", R, {"name": "x" * 200}, "name"),
    ("name-non-ascii", R, {"name": "l\u00e4uft"}, "name"),
]
IDS = [case[0] for case in BAD]


def test_cases_are_distinct():
    assert len(set(IDS)) == len(IDS) == len(BAD)


@pytest.mark.parametrize("case", BAD, ids=IDS)
def test_bad_config_is_one_error_naming_the_key_path(case):
    _, base, edits, path = case
    config = edited(base, edits)
    with pytest.raises(ParameterError) as err:
        validate_experiment(config)
    msg = str(err.value)
    assert msg.startswith(f"`{path}` must be "), msg
    assert "; got " in msg and "\n" not in msg
    assert err.value.names == (path,)
    assert config == edited(base, edits)  # the input is left as it was


@pytest.fixture
def no_data(monkeypatch):
    """Data loading and Randman generation replaced by functions that fail the test if called."""
    from fluctinit import training
    from fluctinit.datasets import randman
    from fluctinit.training import data

    def boom(*args, **kwargs):
        raise AssertionError("data were loaded for a bad config")

    monkeypatch.setattr(training, "load_data", boom, raising=False)
    monkeypatch.setattr(data, "load_data", boom)
    monkeypatch.setattr(randman, "make_randman", boom)
    for name in list(data._LOADERS):
        monkeypatch.setitem(data._LOADERS, name, boom)
    monkeypatch.setattr(training, "train_experiment", boom, raising=False)


@pytest.mark.parametrize("case", BAD, ids=IDS)
def test_train_command_exits_2_with_one_line_naming_the_key_path(case, tmp_path, capsys, no_data):
    from fluctinit.cli import main

    _, base, edits, path = case
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(edited(base, edits)))  # NaN/Infinity as Python's json writes and reads them
    code = main(["train", str(bad), "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"fluctinit train: error: `{path}` must be "), err
    assert not (tmp_path / "runs").exists()


def test_the_problem_counted_when_there_are_more():
    c = edited(R, {"training.lr": "x", "training.epochs": 1.5, "network.recurrent": "no"})
    with pytest.raises(ParameterError, match=r"^`network\.recurrent` must be .*\(and 2 more problems\)$"):
        validate_experiment(c)


def test_messages_say_what_is_allowed():
    cases = [
        ({"network.recurrent": "false"}, "true or false (a JSON bool); got 'false'"),
        ({"training.lrr": 0.01}, "did you mean `training.lr`?"),
        ({"data.validation_fraction": 0.1}, "with `data.dataset` = 'randman'"),
        ({"network.n_in": 700}, "must be 20 (= `data.n_units`); got 700"),
        ({"training.lr": DELETE}, "must be given (a finite number > 0); got no value"),
        ({"data.split": [800, 100, 50]}, "summing to `data.samples_per_class` (1000)"),
        ({"name": "../escaped"}, "no path separators"),
    ]
    for edits, words in cases:
        with pytest.raises(ParameterError) as err:
            validate_experiment(edited(R, edits))
        assert words in str(err.value)


# Where each key of the constraint tables applies (a config on which it is not an unknown key).
APPLIES = {
    "validation_fraction": S, "split_seed": S, "drop_probability": DV, "size": DV,
    "tau_mem_inh": D, "tau_syn_inh": D, "in_channels": C3, "padding": C3, "rec_kernel_size": C3,
    "pool_every": CI, "rec_kernel_size_inh": "shd-conv3-dale",
}


@pytest.mark.parametrize("section, field", [(s, f) for s, t in SECTIONS.items() for f in t])
def test_every_constraint_is_enforced_where_its_key_applies(section, field):
    constraint = SECTIONS[section][field]
    allowed = "true or false" if set(getattr(constraint, "options", ())) == {False, True} else ""
    for bad in constraint.sample_invalid():
        c = edited(APPLIES.get(field, R), {f"{section}.{field}": bad})
        with pytest.raises(ParameterError) as err:
            validate_experiment(c)
        msg = str(err.value)
        assert msg.startswith(f"`{section}.{field}` must be "), msg
        assert "known keys" not in msg  # its own range, not "unknown here"
        assert (allowed or constraint.describe()) in msg


@pytest.mark.parametrize("field", sorted(schema.ENCODER_CONSTRAINTS))
def test_encoder_constraints(field):
    for bad in schema.ENCODER_CONSTRAINTS[field].sample_invalid():
        with pytest.raises(ParameterError, match=rf"^`network\.encoder\.{field}` must be"):
            validate_experiment(edited(CI, {f"network.encoder.{field}": bad}))


@pytest.mark.parametrize("name", list_experiments())
def test_shipped_configs_validate_to_the_same_dict(name):
    """The hand-written validator this schema replaced (commit 8153c56) returned every shipped
    file's dict unchanged (all per-layer settings are lists already): so must the schema, to
    the JSON type of every value."""
    from importlib import resources

    raw = json.loads((resources.files("fluctinit.training") / "experiments" / f"{name}.json").read_text())
    got = validate_experiment(copy.deepcopy(raw))
    assert json.dumps(got, sort_keys=True) == json.dumps(raw, sort_keys=True)
    loaded = load_experiment(name)
    assert loaded == dict(raw, source=f"builtin:{name}")
    assert validate_experiment(loaded) == loaded  # a loaded config (with its source) validates again


def test_valid_variants_still_pass():
    """Options the consumers read stay allowed: one kernel size for all layers (made a list),
    an integer for a float, the Randman generator options, the readout's tau_syn_out."""
    c = edited(C3, {"network.kernel_size": 5, "network.stride": 2, "network.tau_syn_out": 0.01})
    got = validate_experiment(c)
    assert got["network"]["kernel_size"] == [5, 5, 5] and got["network"]["stride"] == [2, 2, 2]
    got = validate_experiment(edited(R, {"data.duration": 1, "data.zero_constant": False, "data.split_mode": "pooled",
                                         "data.spectrum": "power", "training.lr": 1}))
    assert got["data"]["duration"] == 1 and type(got["data"]["duration"]) is int  # as given
    d = edited("shd-dale", {"network.n_inh": 32})
    assert validate_experiment(d)["network"]["n_inh"] == [32]
    dense_dvs = edited(DV, {"network.kind": "dense", "network.n_in": 2 * 32 * 32, "network.hidden": [64]})
    for key in ("in_channels", "kernel_size", "stride", "padding", "pool_every"):
        dense_dvs["network"].pop(key)
    validate_experiment(dense_dvs)


def test_data_set_facts_match_the_data_sets():
    from fluctinit.datasets import FSDD_FILES, FSDD_N_CLASSES, cifar10, dvs_gesture, randman, shd
    from fluctinit.training.experiments import DATA_FILES

    rc = randman.RandmanConfig()
    facts = {ds: schema.DATA_SHAPES[ds](schema.RandmanData.model_construct()) for ds in ("randman",)}
    assert facts["randman"] == ((rc.n_units,), rc.n_classes)
    assert schema.DATA_SHAPES["shd"](None) == ((shd.SHD_N_UNITS,), shd.SHD_N_CLASSES)
    # FSDD through SHD's cochlear model: the converter's default 700 channels, ten digits
    assert schema.DATA_SHAPES["fsdd"](None) == ((shd.SHD_N_UNITS,), FSDD_N_CLASSES)
    assert DATA_FILES["fsdd"] == [[FSDD_FILES["train"], FSDD_FILES["test"]]]
    assert DATA_FILES["shd"] == [[shd.SHD_FILES["train"], shd.SHD_FILES["test"]]]
    assert schema.DATA_SHAPES["cifar10"](None)[1] == cifar10.CIFAR_N_CLASSES
    size = 128 // 4
    dvs = schema.DvsGestureData.model_construct(size=size)
    assert schema.DATA_SHAPES["dvs_gesture"](dvs) == ((2, size, size), dvs_gesture.DVS_N_CLASSES)
    assert set(schema.DATA_CONSTRAINTS["size"].options) == {
        s for s in range(1, dvs_gesture.DVS_SENSOR_SIZE + 1) if dvs_gesture.DVS_SENSOR_SIZE % s == 0}


def test_schema_imports_no_torch():
    code = "import sys; import fluctinit.training.schema; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
