"""validation.resources and the float32 range: runs that cannot fit are refused before they allocate.

The memory estimate's factors are measured (validation/resources.py); here only its structure
is tested (each allocation scales with the sizes that set it), and that the library refuses,
naming the parameters, before any weights are drawn or data simulated.
"""

import math

import numpy as np
import pytest
import torch

from fluctinit import validation as V
from fluctinit.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = dict(n_neurons=100, n_inputs=50, n_steps=300, batch_size=16, n_generated=10, n_kernel=600)


def test_each_allocation_scales_with_its_sizes():
    base = V.sweep_bytes(**SIZES)
    assert set(base) == {"weights", "input batch", "membrane", "generated inputs", "kernel"}
    assert all(isinstance(v, int) and v > 0 for v in base.values())
    twice_inputs = V.sweep_bytes(**{**SIZES, "n_inputs": 100})
    assert twice_inputs["input batch"] == 2 * base["input batch"]
    assert twice_inputs["membrane"] == base["membrane"]
    # the membrane of one chunk: at most CHUNK_ELEMENTS values, at least one sample
    huge = V.sweep_bytes(**{**SIZES, "n_neurons": 10**6})
    assert huge["membrane"] * 16 * 100 == base["membrane"] * 1 * 10**6  # chunks of 16 samples, then of 1
    assert V.chunk_samples(300, 10**6) == 1 and V.chunk_samples(10, 10) == V.CHUNK_ELEMENTS // 100
    assert V.sweep_bytes(**{**SIZES, "n_targets": 3})["weights"] == 3 * base["weights"]


def test_available_memory_is_a_positive_number_of_bytes():
    free = V.available_memory()
    assert free is None or (isinstance(free, int) and free > 0)


def test_check_resources_names_the_parameters_and_amounts():
    with pytest.raises(ParameterError, match=r"needs about 2 GB of memory .* but 1 GB are available") as err:
        V.check_resources({"membrane": 2 * 10**9}, available=10**9, n_neurons=10**6, n_steps=500)
    assert err.value.names == ("n_neurons", "n_steps")
    with pytest.raises(ParameterError, match="membrane updates") as err:
        V.check_resources({"membrane": 1}, available=10**9, updates=V.MAX_UPDATES + 1, trials=10**12)
    assert err.value.names == ("trials",)
    V.check_resources({"membrane": 10**9}, available=10**9, updates=V.MAX_UPDATES)  # at the limits: fine


def test_sweep_refuses_a_population_beyond_memory_before_drawing(monkeypatch):
    import fluctinit.validation.report as R

    def no_work(*a, **k):
        raise AssertionError("drew weights")

    monkeypatch.setattr(R, "draw_population", no_work)
    src = V.tensor_source(np.zeros((2, 20, 5)), 2e-3)
    with pytest.raises(ParameterError, match="of memory") as err:
        V.sweep(src, [1.0], n_neurons=10**10, nu=5.0)
    assert "n_neurons" in err.value.names


def test_burn_in_refuses_a_kernel_too_long_to_scan():
    with pytest.raises(ParameterError, match="PSP kernel takes") as err:
        V.burn_in_steps(20e-3, 10e-3, 1e-9)
    assert set(err.value.names) == {"tau_mem", "tau_syn", "dt"}
    with pytest.raises(ParameterError, match="`tau_syn_inh`") as err:
        V.init_burn_in_steps("dale-exponential", tau_syn_inh=1e300)
    assert "tau_syn_inh" in err.value.names


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(nu=1e-300), "nu"),  # sigma_w ~ 1e150: U**2 overflows float32
        (dict(sigma_u=1e-300), "sigma_u"),  # sigma_w ~ 1e-300: vanishes in float32
        (dict(init="recurrent", nu=1e33), "nu"),
        (dict(init="dale-exponential", nu_inh=1e-300), "nu_inh"),
    ],
)
def test_weight_scales_outside_float32_are_refused_before_filling(kwargs, name):
    args = dict(init="feedforward", n_neurons=4, n_inputs=10, nu=5.0, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ParameterError, match="float32 simulation") as err:
        V.draw_population(**{**args, **kwargs})
    assert name in err.value.names


def test_weight_scales_inside_float32_are_drawn():
    pop = V.draw_population("feedforward", 4, 10, nu=1e20 / 1e6, generator=torch.Generator().manual_seed(0))
    w = pop.channels[0].weights
    assert torch.isfinite(w).all() and float(w.abs().max()) > 0


def test_check_target_rules_need_no_data():
    assert V.check_target("feedforward", sigma_u=None, mu_u=0.5, xi=2.0) == pytest.approx(0.25)
    for kwargs, names in [
        (dict(init="feedforward", mu_u=1.5), {"mu_u", "theta"}),
        (dict(init="dale-lognormal", mu_u=0.2), {"mu_u"}),
        (dict(init="feedforward", sigma_u=None, xi=1e-20), {"xi"}),
        (dict(init="feedforward", sigma_u=1e13), {"sigma_u"}),
        (dict(init="feedforward", sigma_u=1.0, xi=2.0), {"sigma_u", "xi"}),
    ]:
        with pytest.raises(ParameterError) as err:
            V.check_target(**kwargs)
        assert names <= set(err.value.names), (kwargs, str(err.value))


def test_generated_inputs_follow_draw_population():
    assert V.generated_inputs("feedforward", 40, 8) == {}
    assert V.generated_inputs("recurrent", 40, 8) == {"rec": 8}
    assert V.generated_inputs("dale-lognormal", 40, 8, fan_in_rec=5) == {"inh": 10, "exc_rec": 5}
    pop = V.draw_population("dale-exponential", 3, 40, 5.0, fan_in_rec=5, generator=torch.Generator().manual_seed(1))
    assert {c.name: c.n_pre for c in pop.channels if c.source == "poisson"} == {"inh": 10, "exc_rec": 5}
    assert math.isclose(V.kernel_steps(20e-3, 2e-3), 604) and V.kernel_steps(1e300, 1e-300) == math.inf
