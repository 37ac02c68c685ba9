"""Hand-computed traces of the discrete LIF dynamics (paper eqs. 10-19, docs/DEVELOPING.md)."""

import math

import pytest
import torch

from fluctinit.sim import denormal, lif
from fluctinit.sim.neuron import DaleParams, NeuronParams, ReadoutParams
from fluctinit.errors import ParameterError

DT = 2e-3
LM = math.exp(-DT / 20e-3)  # lambda_mem for tau_mem = 20 ms
LS = math.exp(-DT / 10e-3)  # lambda_syn for tau_syn = 10 ms


def one_spike(n_steps, n_in=1, at=0, dtype=torch.float64):
    x = torch.zeros(1, n_steps, n_in, dtype=dtype)
    x[0, at, 0] = 1.0
    return x


def test_single_neuron_trace_with_reset():
    # eq. 11: I[1] = w; eq. 10: U[2] = (1-LM) w > 1 spikes at n = 2 and resets U[3] to 0.
    w = 15.0
    x = one_spike(7)
    s, u = lif.lif_dense(x, torch.tensor([[w]], dtype=torch.float64))
    u, s = u[0, :, 0].tolist(), s[0, :, 0].tolist()
    u2 = (1 - LM) * w
    u4 = (1 - LM) * w * LS**2  # U[3] = 0 (reset), I[3] = w LS^2
    u5 = LM * u4 + (1 - LM) * w * LS**3
    expected = [0.0, 0.0, u2, 0.0, u4, u5]
    assert u2 > 1.0 and u4 < 1.0 and u5 > 1.0
    assert u[:6] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert s[:6] == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert u[6] == 0.0  # reset after the spike at n = 5


def test_free_membrane_has_no_spikes_and_no_reset():
    w = 15.0
    s, u = lif.lif_dense(one_spike(5), torch.tensor([[w]], dtype=torch.float64), params=NeuronParams(mode="free"))
    u = u[0, :, 0].tolist()
    assert s.abs().sum().item() == 0.0
    u3 = LM * (1 - LM) * w + (1 - LM) * w * LS  # no reset although U[2] > theta
    assert u[:4] == pytest.approx([0.0, 0.0, (1 - LM) * w, u3], rel=1e-12)


def test_threshold_is_a_parameter():
    # U[2] = (1-LM) * 15 = 1.43: spikes for theta = 1, not for theta = 2.
    w = torch.tensor([[15.0]], dtype=torch.float64)
    s1, _ = lif.lif_dense(one_spike(3), w, params=NeuronParams(theta=1.0))
    s2, _ = lif.lif_dense(one_spike(3), w, params=NeuronParams(theta=2.0))
    assert s1[0, 2, 0] == 1.0 and s2.sum() == 0.0


def test_recurrent_weight_enters_the_current_one_step_after_the_spike():
    # Neuron 0 spikes at n = 2; V[1, 0] = v puts v into I_1[3], so U_1[4] = (1-LM) v.
    v = 0.7
    w = torch.tensor([[15.0], [0.0]], dtype=torch.float64)
    rec = torch.tensor([[0.0, 0.0], [v, 0.0]], dtype=torch.float64)
    s, u = lif.lif_dense(one_spike(6), w, rec)
    assert s[0, 2, 0] == 1.0
    assert u[0, :4, 1].abs().sum() == 0.0
    assert u[0, 4, 1].item() == pytest.approx((1 - LM) * v, rel=1e-12)
    assert u[0, 5, 1].item() == pytest.approx(LM * (1 - LM) * v + (1 - LM) * v * LS, rel=1e-12)


def test_two_step_delay_through_two_layers():
    # Layer 1 spikes at n = 2 (U[2] = 1.43); layer 2 sees it in I at n = 3 and in U at n = 4.
    x = one_spike(8)
    s1, _ = lif.lif_dense(x, torch.tensor([[15.0]], dtype=torch.float64))
    assert s1[0, :, 0].nonzero().flatten().tolist()[0] == 2
    _, u2 = lif.lif_dense(s1, torch.tensor([[1.0]], dtype=torch.float64))
    assert u2[0, :4, 0].abs().sum() == 0.0
    assert u2[0, 4, 0].item() == pytest.approx(1 - LM, rel=1e-12)


def test_reset_term_is_detached():
    # U[3] = (...)(1 - S[2].detach()) = 0: its gradient w.r.t. w must vanish (it would not without detach).
    w = torch.tensor([[15.0]], dtype=torch.float64, requires_grad=True)
    _, u = lif.lif_dense(one_spike(5), w)
    (g,) = torch.autograd.grad(u[0, 3, 0], w)
    assert g.item() == 0.0
    # while the spike itself carries the surrogate gradient: dS[2]/dw = h(U[2]-1) (1-LM)
    s, u = lif.lif_dense(one_spike(5), w)
    (g,) = torch.autograd.grad(s[0, 2, 0], w)
    h = 1 / (20 * abs((1 - LM) * 15 - 1) + 1) ** 2
    assert g.item() == pytest.approx(h * (1 - LM), rel=1e-12)


def test_free_membrane_response_is_the_closed_form_kernel():
    # Unit-weight response to one spike at n = 0 (free membrane):
    # K[n] = (1-LM) (LM^(n-1) - LS^(n-1)) / (LM - LS) for n >= 1 (sum of the geometric recursion).
    n = 60
    _, u = lif.lif_dense(one_spike(n), torch.ones(1, 1, dtype=torch.float64), params=NeuronParams(mode="free"))
    k = [0.0] + [(1 - LM) * (LM ** (m - 1) - LS ** (m - 1)) / (LM - LS) for m in range(1, n)]
    assert u[0, :, 0].tolist() == pytest.approx(k, rel=1e-10, abs=1e-15)


def test_free_membrane_response_equals_theory_psp_kernel():
    from fluctinit import theory

    for tau_mem, tau_syn in ((20e-3, 10e-3), (20e-3, 20e-3), (30e-3, 5e-3)):
        n = 80
        params = NeuronParams(tau_mem=tau_mem, tau_syn=tau_syn, dt=DT, mode="free")
        _, u = lif.lif_dense(one_spike(n), torch.ones(1, 1, dtype=torch.float64), params=params)
        ref = theory.psp_kernel(tau_mem, tau_syn, DT, n)
        assert u[0, :, 0].numpy() == pytest.approx(ref, rel=1e-10, abs=1e-14)


def test_readout_trace_with_two_inputs():
    # Readout: no spikes; tau_out = 50 ms.  Two inputs (skip connection) add their currents.
    lo = math.exp(-DT / 50e-3)
    x1, x2 = one_spike(5), one_spike(5, at=1)
    w1, w2 = torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[-3.0]], dtype=torch.float64)
    u = lif.readout([x1, x2], [w1, w2], params=ReadoutParams(tau_out=50e-3))[0, :, 0].tolist()
    # I[1] = 2, I[2] = 2 LS - 3, I[3] = (2 LS - 3) LS
    u2 = (1 - lo) * 2
    u3 = lo * u2 + (1 - lo) * (2 * LS - 3)
    u4 = lo * u3 + (1 - lo) * (2 * LS - 3) * LS
    assert u == pytest.approx([0.0, 0.0, u2, u3, u4], rel=1e-12)


def test_dale_currents_have_their_own_time_constants():
    # One input spike; E gets w_fe, I gets w_fi and spikes at n = 2 (tau_mem_inh = 30 ms);
    # inhibition reaches I^IE at n = 3 (eq. 16) and decays with tau_syn_inh = 20 ms.
    p = DaleParams(tau_mem_exc=20e-3, tau_mem_inh=30e-3, tau_syn_exc=10e-3, tau_syn_inh=20e-3)
    lmi, lsi = math.exp(-DT / 30e-3), math.exp(-DT / 20e-3)
    w_fe, w_fi, w_ie = 2.0, 20.0, 3.0
    t = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    s_e, u_e, s_i, u_i = lif.dale_dense(one_spike(6), t(w_fe), t(w_fi), t(w_ie), t(0.0), params=p)
    assert u_i[0, 2, 0].item() == pytest.approx((1 - lmi) * w_fi, rel=1e-12)
    assert s_i[0, :, 0].tolist()[:4] == [0.0, 0.0, 1.0, 0.0]
    u = [0.0, 0.0, (1 - LM) * w_fe]
    u.append(LM * u[2] + (1 - LM) * w_fe * LS)  # eq. 14: I^FE decays with tau_syn_exc
    u.append(LM * u[3] + (1 - LM) * (w_fe * LS**2 - w_ie))  # eq. 12: I^E = I^FE - I^IE
    u.append(LM * u[4] + (1 - LM) * (w_fe * LS**3 - w_ie * lsi))  # eq. 16: I^IE decays with tau_syn_inh
    assert u_e[0, :, 0].tolist() == pytest.approx(u, rel=1e-12)
    assert s_e.sum() == 0.0


def test_dale_excitatory_recurrence_and_inhibitory_self_coupling():
    # E spikes at n = 2; E -> I (w_ri) enters I^RI at 3 (eq. 18, tau_syn_exc), U_I at 4.
    # I -> I (w_ii) is silent because I never spikes.
    t = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    r = 0.5
    s_e, u_e, s_i, u_i = lif.dale_dense(
        one_spike(6), t(15.0), t(0.0), t(0.0), t(5.0), t(0.0), t(r), params=DaleParams()
    )
    assert s_e[0, 2, 0] == 1.0
    assert u_i[0, :4, 0].abs().sum() == 0.0
    assert u_i[0, 4, 0].item() == pytest.approx((1 - LM) * r, rel=1e-12)
    assert u_i[0, 5, 0].item() == pytest.approx(LM * (1 - LM) * r + (1 - LM) * r * LS, rel=1e-12)


def _dense_equivalent_conv(nd):
    """A conv whose input is exactly one kernel wide: output size 1, so it is a dense layer."""
    g = torch.Generator().manual_seed(1)
    c_in, c, k = 3, 4, 5
    shape = (k,) * nd
    w = torch.randn(c, c_in, *shape, generator=g, dtype=torch.float64) * 2
    v = torch.randn(c, c, *((5,) * nd), generator=g, dtype=torch.float64)
    x = (torch.rand(2, 30, c_in, *shape, generator=g) < 0.3).to(torch.float64)
    v_center = v[(slice(None), slice(None)) + (2,) * nd]
    return x, w, v, v_center


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_layer_equals_dense_layer_on_one_receptive_field(nd):
    x, w, v, v_center = _dense_equivalent_conv(nd)
    s, u = lif.lif_conv(x, w, v, stride=1, padding=0)
    s_d, u_d = lif.lif_dense(x.reshape(2, 30, -1), w.reshape(4, -1), v_center)
    assert s.shape == (2, 30, 4) + (1,) * nd
    assert s.sum() > 0  # the recurrent path is exercised
    assert torch.equal(s.reshape(2, 30, 4), s_d)
    assert torch.allclose(u.reshape(2, 30, 4), u_d, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2])
def test_dale_conv_equals_dale_dense_on_one_receptive_field(nd):
    g = torch.Generator().manual_seed(2)
    c_in, ce, ci = 3, 4, 2
    k = (5,) * nd
    x = (torch.rand(2, 25, c_in, *k, generator=g) < 0.4).to(torch.float64)
    w = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    w_fe, w_fi = 3 * w(ce, c_in, *k), 3 * w(ci, c_in, *k)
    w_ie, w_ii = w(ce, ci, *(3,) * nd), w(ci, ci, *(3,) * nd)
    w_re, w_ri = w(ce, ce, *(5,) * nd), w(ci, ce, *(5,) * nd)
    out = lif.dale_conv(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri)
    c3, c5 = (slice(None), slice(None)) + (1,) * nd, (slice(None), slice(None)) + (2,) * nd
    ref = lif.dale_dense(
        x.reshape(2, 25, -1), w_fe.reshape(ce, -1), w_fi.reshape(ci, -1),
        w_ie[c3], w_ii[c3], w_re[c5], w_ri[c5],
    )
    assert out[0].sum() > 0 and out[2].sum() > 0
    for a, b in zip(out, ref):
        assert torch.allclose(a.reshape(b.shape), b, rtol=1e-12, atol=1e-12)


def test_float32_and_float64_agree():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(4, 50, 10, generator=g) < 0.2).float()
    w = torch.randn(6, 10, generator=g) * 1.5
    _, u32 = lif.lif_dense(x, w, params=NeuronParams(mode="free"))
    _, u64 = lif.lif_dense(x, w.double(), params=NeuronParams(mode="free"))
    assert u32.dtype == torch.float32 and u64.dtype == torch.float64
    assert torch.allclose(u32.double(), u64, rtol=1e-5, atol=1e-5)


def test_denormals_are_flushed_only_while_the_simulator_runs():
    seen = []

    def probe(x, w):
        seen.append(("forward", denormal.flushing()))
        y = x * w
        y.register_hook(lambda g: seen.append(("backward", denormal.flushing())))
        return y * 2

    scoped = denormal.denormal_scope(probe)
    w = torch.ones(3, requires_grad=True)
    assert not denormal.flushing()
    out = scoped(torch.ones(3), w)
    assert not denormal.flushing()  # restored after the forward pass
    out.sum().backward()
    assert not denormal.flushing()  # and after the backward pass
    assert w.grad.tolist() == [2.0, 2.0, 2.0]
    if denormal.set_flush_denormal(True):
        assert seen == [("forward", True), ("backward", True)]
    # opt out: nothing is flushed
    seen.clear()
    try:
        denormal.set_flush_denormal(False)
        scoped(torch.ones(3), w).sum().backward()
        assert seen == [("forward", False), ("backward", False)]
    finally:
        denormal.set_flush_denormal(True)
    with pytest.raises(ParameterError, match="`enabled`"):
        denormal.set_flush_denormal("yes")


def test_layers_leave_the_process_wide_setting_alone():
    # a float32 denormal survives arithmetic outside the simulator, before and after a run
    tiny = torch.tensor([1 << 20], dtype=torch.int32).view(torch.float32)  # ~1.5e-39
    w = torch.full((4, 3), 2.0, requires_grad=True)
    s, u = lif.lif_dense(torch.ones(2, 5, 3), w, torch.zeros(4, 4, requires_grad=True))
    assert (tiny * 1.0).item() > 0.0
    (s.sum() + u.sum()).backward()
    assert (tiny * 1.0).item() > 0.0 and not denormal.flushing()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"tau_mem": -1.0}, "tau_mem"),
        ({"tau_syn": 0.0}, "tau_syn"),
        ({"dt": float("nan")}, "dt"),
        ({"theta": 0.0}, "theta"),
        ({"mode": "spiky"}, "mode"),
    ],
)
def test_neuron_params_reject_bad_values(kwargs, name):
    with pytest.raises(ParameterError, match=f"`{name}` must be"):
        NeuronParams(**kwargs)


def test_dale_and_readout_params_reject_bad_values():
    with pytest.raises(ParameterError, match="`tau_syn_inh` must be"):
        DaleParams(tau_syn_inh=-2e-3)
    with pytest.raises(ParameterError, match="`tau_out` must be"):
        ReadoutParams(tau_out=0.0)


def test_functions_reject_bad_shapes():
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ParameterError, match=r"`x` must be \(batch, time, 2\)"):
        lif.lif_dense(x, torch.zeros(4, 2))
    with pytest.raises(ParameterError, match="`weight`"):
        lif.lif_dense(x, torch.zeros(4, 3, 1))
    with pytest.raises(ParameterError, match="`rec_weight`"):
        lif.lif_dense(x, torch.zeros(4, 3), torch.zeros(3, 3))
    with pytest.raises(ParameterError, match="`x`"):
        lif.lif_dense(torch.zeros(5, 3), torch.zeros(4, 3))
    with pytest.raises(ParameterError, match="`rec_weight`"):
        lif.lif_conv(torch.zeros(2, 5, 3, 10), torch.zeros(4, 3, 3), torch.zeros(4, 4, 4))
    with pytest.raises(ParameterError, match="`w_ie`"):
        lif.dale_dense(x, torch.zeros(4, 3), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 2))
    with pytest.raises(ParameterError, match="`inputs`, `weights`"):
        lif.readout([x], [], params=ReadoutParams(tau_out=1.0))


def test_backend_dispatch_and_registration(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return lif.lif_dense(*args, **kwargs)

    monkeypatch.setitem(lif._BACKENDS, "counting", {"lif_dense": counting})
    assert "counting" in lif.available_backends()
    assert lif.dispatch("lif_dense", "reference") is lif.lif_dense
    before = lif.get_backend()
    with lif.use_backend("counting"):
        assert lif.get_backend() == "counting"
        assert lif.dispatch("lif_dense") is counting
        assert lif.dispatch("readout") is lif.readout  # missing ops fall back to the reference
    assert lif.get_backend() == before
    with pytest.raises(ParameterError, match="`backend` must be one of"):
        lif.set_backend("nope")
    with pytest.raises(ParameterError, match="`ops`"):
        lif.register_backend("bad", {"lif_sparse": counting})
    with pytest.raises(ParameterError, match="`op`"):
        lif.dispatch("lif_sparse")


@pytest.mark.parametrize("tau_mem, tau_syn", [(20e-3, 10e-3), (20e-3, 20e-3), (50e-3, 5e-3)])
def test_simulated_kernel_integrals_equal_theory_discrete_mode(tau_mem, tau_syn):
    # DEVELOPING.md: epsilon_bar = dt * sum K, epsilon_hat = dt * sum K^2 over the simulated response.
    from fluctinit import theory

    n = 2000  # long enough for lambda^n to vanish in float64
    params = NeuronParams(tau_mem=tau_mem, tau_syn=tau_syn, dt=DT, mode="free")
    _, u = lif.lif_dense(one_spike(n), torch.ones(1, 1, dtype=torch.float64), params=params)
    k = theory.kernel_integrals(tau_mem=tau_mem, tau_syn=tau_syn, dt=DT, mode="discrete")
    assert DT * u.sum().item() == pytest.approx(k.epsilon_bar, rel=1e-10)
    assert DT * (u**2).sum().item() == pytest.approx(k.epsilon_hat, rel=1e-10)


def test_default_backend_from_the_environment():
    import os
    import subprocess
    import sys

    # one subprocess (importing torch is slow): the variable is read, and checked on first use
    code = "from fluctinit.sim import get_backend, dispatch; print(get_backend()); dispatch('lif_dense')"
    env = dict(os.environ, FLUCTINIT_SIM_BACKEND="no-such-backend")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "no-such-backend"
    assert out.returncode != 0 and "`backend` must be one of" in out.stderr
    default = "fused" if "fused" in lif.available_backends() else "reference"  # the fast core when installed
    assert lif.get_backend() == os.environ.get("FLUCTINIT_SIM_BACKEND", default)
