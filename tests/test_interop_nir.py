"""fluctinit.interop.nir and ``fluctinit init-nir``: NIR's continuous kernel, graphs as snntorch exports
them (feed-forward and recurrent cycles), nested subgraphs, convolutions, refusals; and the round trip
snntorch -> NIR -> init-nir -> snntorch measured in snntorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from conftest import require
from fluctinit.cli import main
from fluctinit.errors import ParameterError
from fluctinit.interop import _check, continuous_kernel
from fluctinit.interop import nir as fi

nir = require("nir")
snn = require("snntorch")
from snntorch.export_nir import export_to_nir  # noqa: E402

DT = 2e-3
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
A, B = math.exp(-DT / 10e-3), math.exp(-DT / 20e-3)


def _export(net, n_in):
    return _check.quiet(lambda: export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0]))


def _v(x, n):
    return torch.full((n,), x)


@pytest.fixture
def graph():
    net = nn.Sequential(nn.Linear(300, 40), snn.Synaptic(alpha=_v(A, 40), beta=_v(B, 40), threshold=_v(2.0, 40),
                                                         init_hidden=True),
                        nn.Linear(40, 10), snn.Leaky(beta=_v(B, 10), threshold=_v(1.0, 10), init_hidden=True))
    return _export(net, 300)


def test_weights_follow_nirs_continuous_kernel(graph):
    before = graph.nodes["0"].weight.copy()
    new, (r1, r2) = fi.init_(graph, nu=400.0, dt=1e-4, sigma_u=0.5, generator=torch.Generator().manual_seed(0),
                             return_report=True)
    cuba, lif = graph.nodes["1"], graph.nodes["3"]
    eb, eh = continuous_kernel(cuba.tau_mem[0], cuba.tau_syn[0], cuba.r[0] * cuba.w_in[0] * 1e-4)
    assert (r1.epsilon_bar, r1.epsilon_hat) == pytest.approx((float(eb), float(eh)), rel=1e-6)
    assert r1.sigma_w == pytest.approx(0.5 * 2.0 / math.sqrt(300 * 400.0 * float(eh)), rel=1e-6)  # eq. 9, theta 2
    assert r2.epsilon_hat == pytest.approx(float(continuous_kernel(lif.tau[0], 0.0, lif.r[0] * 1e-4)[1]), rel=1e-6)
    assert (r1.tau_mem, r1.tau_syn) == pytest.approx((1e-4 / (1 - B), 1e-4 / (1 - A)), rel=1e-5)  # the exporter's
    w = new.nodes["0"].weight
    assert w.dtype == np.float32 and w.std() == pytest.approx(r1.sigma_w, rel=0.03)
    assert np.all(new.nodes["0"].bias == 0) and np.array_equal(graph.nodes["0"].weight, before)  # a copy
    # a spike of another area: epsilon_bar scales with it, epsilon_hat with its square
    (q1, _) = fi.init_(graph, nu=400.0, dt=1e-4, spike_area=2e-4, return_report=True)[1]
    assert (q1.epsilon_bar, q1.epsilon_hat) == pytest.approx((2 * r1.epsilon_bar, 4 * r1.epsilon_hat))


def test_recurrent_cycles_as_snntorch_exports_them():
    net = nn.Sequential(nn.Linear(30, 12), snn.RSynaptic(alpha=_v(A, 12), beta=_v(B, 12), threshold=_v(1.0, 12),
                                                         linear_features=12, init_hidden=True))
    new, (r,) = fi.init_(_export(net, 30), nu=300.0, dt=1e-4, alpha=0.8, return_report=True)
    assert (r.name, r.neuron, r.recurrent, r.fan_in, r.fan_in_rec, r.alpha) == ("0", "1.lif", "1.w_rec", 30, 12, 0.8)
    assert new.nodes["1.w_rec"].weight.std() == pytest.approx(r.sigma_v, rel=0.25)


def test_nested_subgraph_and_conv():
    n = 4
    lif = nir.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 2e-2), r=np.ones(n), v_leak=np.full(n, -1.0),
                      v_threshold=np.zeros(n), w_in=np.ones(n))
    sub = nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "lif": lif,
                              "w_rec": nir.Linear(weight=np.zeros((n, n))), "output": nir.Output(np.array([n]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([6])), "fc": nir.Affine(weight=np.zeros((n, 6)), bias=np.ones(n)),
                            "rnn": sub, "output": nir.Output(np.array([n]))},
                     edges=[("input", "fc"), ("fc", "rnn"), ("rnn", "output")], type_check=False)
    _, (r,) = fi.init_(g, nu=50.0, dt=1e-3, return_report=True)
    assert (r.name, r.neuron, r.recurrent, r.theta) == ("fc", "rnn.lif", "rnn.w_rec", 1.0)
    assert r.epsilon_hat == pytest.approx(float(continuous_kernel(2e-2, 5e-3, 1e-3)[1]))
    conv = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 8, 8])),
                               "c": nir.Conv2d(input_shape=(8, 8), weight=np.zeros((3, 2, 3, 3)), stride=1, padding=0,
                                               dilation=1, groups=1, bias=np.zeros(3)),
                               "lif": nir.LIF(tau=np.full((3, 6, 6), 0.01), r=np.ones((3, 6, 6)),
                                              v_leak=np.zeros((3, 6, 6)), v_threshold=np.ones((3, 6, 6))),
                               "output": nir.Output(np.array([3, 6, 6]))},
                        edges=[("input", "c"), ("c", "lif"), ("lif", "output")], type_check=False)
    _, (rc,) = fi.init_(conv, nu=50.0, dt=1e-3, return_report=True)
    assert rc.fan_in == 18 and rc.tau_syn == 0.0


def test_refusals(graph):
    readout = nir.NIRGraph(nodes={"input": nir.Input(np.array([5])), "w": nir.Linear(weight=np.zeros((2, 5))),
                                  "output": nir.Output(np.array([2]))},
                           edges=[("input", "w"), ("w", "output")], type_check=False)
    with pytest.raises(ParameterError, match=r"`graph` node 'w' \(Linear\) must feed exactly one NIR CubaLIF, LIF node; "
                                             r"it feeds output \(Output\); pass skip=\('w',\)"):
        fi.init_(readout, nu=10.0, dt=1e-3)
    assert fi.init_(readout, nu=10.0, dt=1e-3, skip=["w"], return_report=True)[1] == []
    with pytest.raises(ParameterError, match=r"`graph` must be a nir.NIRGraph; got dict"):
        fi.init_({}, nu=10.0, dt=1e-3)
    from fluctinit.interop._rule import CONSTRAINTS

    for bad in CONSTRAINTS["spike_area"].sample_invalid():
        with pytest.raises(ParameterError, match=r"`spike_area` must be a finite number > 0; got"):
            fi.init_(graph, nu=10.0, dt=1e-3, spike_area=bad)
    with pytest.raises(ParameterError, match=r"`skip` must name nodes of the graph; got \['nope'\]"):
        fi.init_(graph, nu=10.0, dt=1e-3, skip="nope")


def test_cli_writes_the_graph_and_refuses_in_one_line(graph, tmp_path, capsys):
    src, out = tmp_path / "in.nir", tmp_path / "out.nir"
    nir.write(str(src), graph)
    assert main(["init-nir", str(src), str(out), "--nu", "400,200", "--dt", "1e-4", "--json"]) == 0
    import json

    layers = json.loads(capsys.readouterr().out)["layers"]
    assert [(x["name"], x["nu"]) for x in layers] == [("0", 400.0), ("2", 200.0)]
    assert nir.read(str(out)).nodes["0"].weight.std() == pytest.approx(layers[0]["sigma_w"], rel=0.03)
    for argv, message in [
        ([str(src), str(out), "--nu", "400,200,1", "--dt", "1e-4"], "`--nu` must be one rate or one per initialized layer"),
        ([str(src), str(out), "--nu", "400", "--dt", "0"], "`--dt` must be a finite number > 0; got 0.0"),
        ([str(src), str(out), "--nu", "400", "--dt", "1e-4", "--sigma-u", "-1"], "`--sigma-u` must be a finite number > 0"),
        ([str(tmp_path / "none.nir"), str(out), "--nu", "4", "--dt", "1e-4"], "no such file"),
        ([str(tmp_path), str(out), "--nu", "4", "--dt", "1e-4"], "no such file"),
        ([__file__, str(out), "--nu", "4", "--dt", "1e-4"], "is not a readable NIR graph"),
        ([str(src), str(out), "--nu", "x", "--dt", "1e-4"], "argument --nu: expected a number or a comma-separated list"),
    ]:
        with pytest.raises(SystemExit) if "argument" in message else _nothing():
            assert main(["init-nir", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_roundtrip_through_nir_measured_in_snntorch(tmp_path):
    """Export, ``fluctinit init-nir`` (NIR's continuous kernel), import, run in snntorch: the membrane std is the
    target times sqrt(1 - nu dt) times sqrt(epsilon_hat of snntorch's discrete update / NIR's), the
    O(dt/tau) difference between the two semantics (3.5 % here), within the check's 3 sigma."""
    nu, dt = 20.0, DT
    make = _check.nir_roundtrip(str(tmp_path), n_in=100, n=256, dt=dt, nu=nu)
    m = _check.measure_built(make, framework="nir", neuron="CubaLIF", rule="fluctinit", dt=dt, nu=nu, sigma_u=1.0,
                             mu_u=0.0, replicates=12, batch=16, n_steps=300, seed=2)
    expected = _check.nir_roundtrip_expected(dt, nu)
    # by hand: a = exp(-0.2), b = exp(-0.1); snntorch's sum K^2 = (1 + ab)/((1 - ab)(1 - a^2)(1 - b^2)) = 112.35,
    # NIR's epsilon_hat/dt = (1/((1 - a)(1 - b)))^2 / (2 (1/(1 - b) + 1/(1 - a))) = 104.78
    assert expected == pytest.approx(math.sqrt((1 - nu * dt) * 112.35 / 104.78), rel=2e-4)
    assert abs(m.ratio - expected) <= m.sigmas() * m.ratio_se, (m, expected)


@pytest.mark.parametrize("flag, argv", [
    ("--nu", ["--nu", "abc"]), ("--nu", ["--nu", "0"]), ("--nu", ["--nu", "400,-1"]), ("--nu", ["--nu", "1e308"]),
    ("--nu", ["--nu", "1,2,3"]), ("--nu", []),
    ("--dt", ["--dt", "x"]), ("--dt", ["--dt", "-1e-4"]), ("--dt", ["--dt", "nan"]), ("--dt", []),
    ("--sigma-u", ["--sigma-u", "0"]), ("--sigma-u", ["--sigma-u", "inf"]),
    ("--mu-u", ["--mu-u", "1"]), ("--mu-u", ["--mu-u", "0.99", "--sigma-u", "1e-3"]),
    ("--spike-area", ["--spike-area", "0"]), ("--spike-area", ["--spike-area", "x"]),
    ("--alpha", ["--alpha", "1"]), ("--seed", ["--seed", "-1"]), ("--seed", ["--seed", "1.5"]),
    ("--skip", ["--skip", "nope"]), ("--json", ["--json=1"]), ("--keep-bias", ["--keep-bias=no"]),
    ("IN.nir", ["IN"]), ("OUT.nir", ["OUT"]),
])
def test_every_option_refuses_bad_input_in_one_line_and_writes_nothing(flag, argv, graph, tmp_path, capsys):
    src, out = tmp_path / "in.nir", tmp_path / "out.nir"
    nir.write(str(src), graph)
    args = {"--nu": ["--nu", "400"], "--dt": ["--dt", "1e-4"]}
    for key in ("--nu", "--dt"):
        if flag == key:
            args[key] = argv
    paths = [str(src), str(out)]
    if flag == "IN.nir":
        paths[0] = str(tmp_path / "missing.nir")
    if flag == "OUT.nir":  # a folder where the file should go
        (tmp_path / "out_dir").mkdir()
        paths[1] = str(tmp_path / "out_dir")
    extra = [] if flag in ("--nu", "--dt", "IN.nir", "OUT.nir") else argv
    try:
        code = main(["init-nir", *paths, *args["--nu"], *args["--dt"], *extra])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    name = {"IN.nir": "missing.nir", "OUT.nir": "out_dir"}.get(flag, flag)
    assert name in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nir"] + (["out_dir"] if flag == "OUT.nir" else [])
    assert flag != "OUT.nir" or not any((tmp_path / "out_dir").iterdir())  # nothing written
