"""fluctinit.validation's public API: its ``__init__`` is the whole of it, and stays import-light.

References: STYLE.md practice 6 (a subpackage's ``__init__`` is its public API) and the
package docstring's promise that importing it does not import torch.
"""

import importlib
import subprocess
import sys

import pytest

from fluctinit import validation


def test_import_does_not_import_torch():
    code = ("import sys; import fluctinit.validation as v; "
            "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('fluctinit.validation.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False []"


def test_constraints_do_not_import_torch():
    # the CLI checks its flags against the shared table before anything heavy is imported
    code = "import sys; from fluctinit.validation import CONSTRAINTS, INITIALIZERS; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", validation.__all__)
def test_every_public_name_resolves_to_its_module(name):
    value = getattr(validation, name)
    module = importlib.import_module(f"fluctinit.validation.{validation._EXPORTS[name]}")
    assert getattr(module, name) is value
    # the module that defines it lists it in its own __all__
    assert name in module.__all__


def test_public_api_lists_every_module_export():
    # nothing a module exports is missing from the package's __all__ (and nothing is listed twice)
    assert len(set(validation.__all__)) == len(validation.__all__)
    for mod in set(validation._EXPORTS.values()):
        module = importlib.import_module(f"fluctinit.validation.{mod}")
        assert set(module.__all__) <= set(validation.__all__), mod
    assert set(validation.__all__) <= set(dir(validation))


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'membrane'"):
        validation.membrane  # noqa: B018 - the old module is gone, no shim
    with pytest.raises(ImportError):
        importlib.import_module("fluctinit.validation.membrane")
