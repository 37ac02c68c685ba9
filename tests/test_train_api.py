"""fluctinit.training's public API: one import-light ``__init__`` that re-exports every module's names."""

import importlib
import subprocess
import sys

import pytest

import fluctinit.training as training

# module -> names its __all__ exports under another name in the package (two modules share one)
RENAMED = {
    "losses": {"CONSTRAINTS": "LOSS_CONSTRAINTS"},
    "optim": {"CONSTRAINTS": "OPTIMIZER_CONSTRAINTS"},
    "loop": {"CONSTRAINTS": "TRAIN_CONSTRAINTS"},
}
MODULES = ("experiments", "model", "data", "losses", "optim", "recording", "checkpoint", "loop", "runs")


def test_import_does_not_import_torch():
    code = ("import sys; import fluctinit.training as t; dir(t); t.__all__; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_a_name_imports_its_module_on_first_use():
    code = ("import sys; from fluctinit.training import train_experiment; "
            "print('torch' in sys.modules, 'fluctinit.training.loop' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True True", out.stderr


@pytest.mark.parametrize("name", training.__all__)
def test_every_public_name_resolves(name):
    assert getattr(training, name) is not None
    assert name in dir(training)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_name_is_re_exported(module):
    mod = importlib.import_module(f"fluctinit.training.{module}")
    for name in mod.__all__:
        public = RENAMED.get(module, {}).get(name, name)
        assert getattr(training, public) is getattr(mod, name), (module, name)


def test_all_is_sorted_and_unknown_names_raise():
    assert training.__all__ == sorted(set(training.__all__))
    with pytest.raises(AttributeError, match="no_such_name"):
        training.no_such_name  # noqa: B018
    assert not hasattr(training, "_counts_and_recorder")  # private names stay private
