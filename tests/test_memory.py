"""fluctinit.sim.memory: glibc keeps freed large blocks when asked, and the opt-out works."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fluctinit.sim import memory

CHILD = "from fluctinit.sim.memory import keep_freed_memory as k; print(k(), k())"


def _run(env_value=None):
    import os

    env = dict(os.environ)
    env.pop("FLUCTINIT_KEEP_FREED_MEMORY", None)
    if env_value is not None:
        env["FLUCTINIT_KEEP_FREED_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
    return out.stdout.split()


@pytest.mark.skipif(memory._glibc() is None, reason="needs glibc")
def test_applies_on_glibc_and_is_idempotent():
    assert _run() == ["True", "True"]


@pytest.mark.parametrize("value", ["0", "off", "False"])
def test_environment_opt_out(value):
    assert _run(value) == ["False", "False"]


def test_command_line_applies_it_only_to_simulating_commands():
    from fluctinit.cli import KEEP_FREED_MEMORY, SUBCOMMANDS

    assert set(KEEP_FREED_MEMORY) <= set(SUBCOMMANDS)
    assert {"train", "bench", "validate"} <= set(KEEP_FREED_MEMORY)
    assert "kernel" not in KEEP_FREED_MEMORY and "params" not in KEEP_FREED_MEMORY
