"""Shared pytest configuration: hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (set by scripts/test.sh) is derandomized so CI is
reproducible; ``dev`` explores more examples.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a module of small-tensor tests (faster, and robust when
    other processes load the CPUs); the previous thread count is restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


FSDD_RECORDINGS = os.environ.get(
    "FLUCTINIT_FSDD",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fsdd", "recordings"))


@pytest.fixture(scope="session")
def fsdd_recordings():
    """FSDD's recordings (``../shared/fsdd/recordings`` beside the repository, or $FLUCTINIT_FSDD)."""
    from pathlib import Path

    path = Path(FSDD_RECORDINGS)
    if not path.is_dir():
        pytest.skip(f"FSDD recordings not found at {path} (set FLUCTINIT_FSDD)")
    return path


def require(name: str):
    """Import an optional package (snntorch, norse, spikingjelly, nir): skip the test module where it is
    missing, but fail in CI (``CI`` set), where scripts/setup.sh installs it, so a lost install is seen."""
    import importlib

    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name)
