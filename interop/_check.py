"""The membrane check in each framework's own simulator (the tests and benchmarks/interop_ratios.py).

One case is one neuron type of one framework: a layer of ``n`` neurons fed by a weight layer
from ``n_in`` Poisson inputs (and, for a recurrent type, by its recurrent weights from ``n``
independent Poisson trains at the same rate, fed in as the layer's previous spikes: the
open-loop form of the theory's assumption, eqs. 34-36), built and stepped by the framework
with the membrane free (no reset, or a threshold out of reach after the initialization).

:func:`measure` draws ``replicates`` independent networks and inputs; per replicate it pools
each neuron's membrane over the batch and the steps after the burn-in, centered on the
neuron's exact mean (``rest + nu dt sum(K) sum_j w_j``, with ``K`` the framework's own impulse
response, :func:`impulse`), and averages ``sigma_i^2 / target^2`` over neurons.  The replicates
are independent, so their spread gives an honest standard error; the 3-sigma level of an
estimate whose standard error is itself estimated from R replicates is Student's t quantile
(:meth:`Measurement.sigmas`).  The measured
``sqrt(mean)`` is expected at ``sqrt(1 - nu dt)`` (Bernoulli inputs, :func:`fluctinit.theory.bernoulli_variance_factor`).

``rule="paper"`` draws the weights instead from the paper's kernel unchanged
(:func:`fluctinit.theory.kernel_integrals` at the time constants a user reads off the
framework's parameters), what a port of the paper's formulas without the framework's update
does.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from fluctinit import theory
from fluctinit.sim import fluctuation_normal_, fluctuation_recurrent_, poisson_spikes

from ._rule import continuous_kernel, discrete_kernel

__all__ = ["CASES", "Built", "Measurement", "build", "impulse", "measure", "measure_built", "nir_roundtrip",
           "nir_roundtrip_expected", "paper_kernel"]

#: (framework, neuron type, recurrent) of every case
CASES = (
    ("snntorch", "Synaptic", False), ("snntorch", "Leaky", False),
    ("snntorch", "RSynaptic", True), ("snntorch", "RLeaky", True),
    ("norse", "LIFCell", False), ("norse", "LIF", False), ("norse", "LIFBoxCell", False),
    ("norse", "LIFRecurrentCell", True),
    ("spikingjelly", "LIFNode", False), ("spikingjelly", "LIFNode-no-decay-input", False),
    ("spikingjelly", "CUBALIFNode", False),
)

TAU_MEM, TAU_SYN = 20e-3, 10e-3
FREE = 1e9  # a threshold out of reach


@dataclass
class Built:
    """One case's network: ``module`` for ``init_``, its weights, a step function and its target unit."""

    module: nn.Module
    weight: torch.Tensor
    rec: torch.Tensor | None
    step: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]  # (x_t, z_t) -> membrane (batch, n)
    start: Callable[[int], None]  # new trial of a batch size; frees the membrane
    init: Callable[..., Any]
    theta: float
    rest: float
    nominal: tuple[float, float]  # (tau_mem, tau_syn) as a user reads them; tau_syn 0: no current
    dt_kwargs: dict


def _snntorch(kind: str, n_in: int, n: int, dt: float, rest: float) -> Built:
    import snntorch as snn

    from . import snntorch as fi

    a, b = math.exp(-dt / TAU_SYN), math.exp(-dt / TAU_MEM)
    fc = nn.Linear(n_in, n)
    common = dict(threshold=1.0, reset_mechanism="none")
    lif = {"Synaptic": lambda: snn.Synaptic(alpha=a, beta=b, **common),
           "Leaky": lambda: snn.Leaky(beta=b, **common),
           "RSynaptic": lambda: snn.RSynaptic(alpha=a, beta=b, linear_features=n, **common),
           "RLeaky": lambda: snn.RLeaky(beta=b, linear_features=n, **common)}[kind]()
    state: dict[str, torch.Tensor] = {}

    def start(batch: int) -> None:
        state.update(syn=torch.zeros(batch, n), mem=torch.zeros(batch, n))

    def step(x, z):
        cur = fc(x)
        if kind == "Synaptic":
            _, state["syn"], state["mem"] = lif(cur, state["syn"], state["mem"])
        elif kind == "Leaky":
            _, state["mem"] = lif(cur, state["mem"])
        elif kind == "RSynaptic":
            _, state["syn"], state["mem"] = lif(cur, z, state["syn"], state["mem"])
        else:
            _, state["mem"] = lif(cur, z, state["mem"])
        return state["mem"]

    rec = lif.recurrent.weight if kind.startswith("R") else None
    return Built(nn.Sequential(fc, lif), fc.weight, rec, step, start, fi.init_, 1.0, 0.0,
                 (TAU_MEM, TAU_SYN if "Synaptic" in kind else 0.0), {"dt": dt})


def _norse(kind: str, n_in: int, n: int, dt: float, rest: float) -> Built:
    from norse.torch import LIF, LIFBoxCell, LIFBoxParameters, LIFCell, LIFParameters, LIFRecurrent, LIFRecurrentCell
    from norse.torch.functional.lif import LIFFeedForwardState, LIFState
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState

    from . import norse as fi

    tm, ts = torch.tensor(1.0 / TAU_MEM), torch.tensor(1.0 / TAU_SYN)
    v_leak, v_th = torch.tensor(rest), torch.tensor(rest + 1.0)
    if kind == "LIFBoxCell":
        cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=tm, v_leak=v_leak, v_th=v_th, v_reset=v_leak), dt=dt)
    else:
        p = LIFParameters(tau_syn_inv=ts, tau_mem_inv=tm, v_leak=v_leak, v_th=v_th, v_reset=v_leak)
        cell = {"LIFCell": lambda: LIFCell(p, dt=dt), "LIF": lambda: LIF(p, dt=dt, record_states=True),
                "LIFRecurrentCell": lambda: LIFRecurrentCell(n_in, n, p, dt=dt),
                # the sequence module closes its own loop: with the threshold out of reach its recurrent
                # spikes stay 0, and only the feed-forward share alpha of the variance is left
                "LIFRecurrent": lambda: LIFRecurrent(n_in, n, p, dt=dt)}[kind]()
    own = kind in ("LIFRecurrentCell", "LIFRecurrent")
    fc = None if own else nn.Linear(n_in, n)
    state: dict[str, Any] = {}

    def start(batch: int) -> None:
        cell.p = cell.p._replace(v_th=torch.tensor(FREE))
        v, i = torch.full((batch, n), rest), torch.zeros(batch, n)
        state["s"] = {"LIFBoxCell": lambda: LIFBoxFeedForwardState(v=v)}.get(
            kind, lambda: LIFState(z=torch.zeros(batch, n), v=v, i=i) if own else LIFFeedForwardState(v=v, i=i))()

    def step(x, z):
        if kind == "LIFRecurrentCell":
            _, state["s"] = cell(x, state["s"]._replace(z=z))
        elif kind == "LIFRecurrent":
            _, state["s"] = cell(x[None], state["s"])
        elif kind == "LIF":
            _, states = cell(fc(x)[None], state["s"])
            state["s"] = LIFFeedForwardState(v=states.v[-1], i=states.i[-1])
        else:
            _, state["s"] = cell(fc(x), state["s"])
        return state["s"].v

    module = cell if fc is None else nn.Sequential(fc, cell)
    weight = cell.input_weights if own else fc.weight
    rec = cell.recurrent_weights if kind == "LIFRecurrentCell" else None
    return Built(module, weight, rec, step, start, fi.init_, 1.0, rest,
                 (TAU_MEM, 0.0 if kind == "LIFBoxCell" else TAU_SYN), {})


def _spikingjelly(kind: str, n_in: int, n: int, dt: float, rest: float) -> Built:
    from spikingjelly.activation_based import functional, layer, neuron

    from . import spikingjelly as fi

    fc = layer.Linear(n_in, n)
    if kind == "CUBALIFNode":
        node = neuron.CUBALIFNode(c_decay=math.exp(-dt / TAU_SYN), v_decay=math.exp(-dt / TAU_MEM),
                                  v_threshold=1.0, v_reset=0.0)
    else:
        node = neuron.LIFNode(tau=TAU_MEM / dt, decay_input=kind == "LIFNode", v_threshold=rest + 1.0,
                              v_reset=rest)
    net = nn.Sequential(fc, node)

    def start(batch: int) -> None:
        node.v_threshold = FREE
        functional.reset_net(net)

    def step(x, z):
        net(x)
        return node.v

    return Built(net, fc.weight, None, step, start, fi.init_, 1.0, 0.0 if kind == "CUBALIFNode" else rest,
                 (TAU_MEM, TAU_SYN if kind == "CUBALIFNode" else 0.0), {"dt": dt})


_BUILDERS = {"snntorch": _snntorch, "norse": _norse, "spikingjelly": _spikingjelly}


def build(framework: str, kind: str, *, n_in: int, n: int, dt: float, rest: float = 0.0) -> Built:
    """The case's network (``rest``: the resting potential, where the framework has one)."""
    return _BUILDERS[framework](kind, n_in, n, dt, rest)


def _run(built: Built, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
    """The membrane ``(batch, time, n)`` for inputs ``x`` ``(batch, time, n_in)`` (``z``: recurrent spikes)."""
    built.start(x.shape[0])
    out = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out.append(built.step(x[:, t], None if z is None else z[:, t]).clone())
    return torch.stack(out, dim=1)


def impulse(built: Built, n_steps: int) -> np.ndarray:
    """The framework's own response ``K[m]`` of the membrane to one unit input spike at step 0."""
    with torch.no_grad():
        built.weight.zero_()
        built.weight[:, 0] = 1.0
        if built.rec is not None:
            built.rec.zero_()
        for m in built.module.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.zero_()
    x = torch.zeros(1, n_steps, built.weight.shape[1])
    x[0, 0, 0] = 1.0
    z = None if built.rec is None else torch.zeros(1, n_steps, built.rec.shape[0])
    return (_run(built, x, z)[0, :, 0].double().numpy() - built.rest)


def paper_kernel(tau_mem: float, tau_syn: float, dt: float) -> theory.KernelIntegrals:
    """The paper's discrete kernel (its update, eqs. 10-11) at the given time constants; ``tau_syn = 0``:
    its limit without a synaptic current."""
    if tau_syn > 0:
        return theory.kernel_integrals(tau_mem, tau_syn, dt)
    b = math.exp(-dt / tau_mem)
    eb, eh = discrete_kernel(0.0, b, 1.0 - b, dt)
    return theory.KernelIntegrals(float(eb), float(eh))


@dataclass(frozen=True)
class Measurement:
    """Measured ``sqrt(<sigma_i^2>) / target`` and mean over the replicates, with standard errors."""

    framework: str
    neuron: str
    rule: str
    dt: float
    nu: float
    ratio: float
    ratio_se: float
    expected: float
    mu: float
    mu_se: float
    mu_target: float
    replicates: int

    def z(self) -> float:
        """(ratio - expected) in standard errors."""
        return (self.ratio - self.expected) / self.ratio_se

    def sigmas(self) -> float:
        """How many standard errors make the two-sided 99.73 % level (3 sigma of a normal) when the
        standard error is estimated from the replicates: Student's t with replicates - 1 degrees of
        freedom (3.6 for 12 replicates)."""
        from scipy import stats

        return float(stats.t.ppf(1 - stats.norm.sf(3.0), self.replicates - 1))


def _burn_in(k: np.ndarray, tol: float = 1e-5) -> int:
    tail = np.cumsum((k * k)[::-1])[::-1]
    return int(np.argmax(tail <= tol * tail[0]))


def measure(framework: str, kind: str, *, dt: float, nu: float = 20.0, sigma_u: float = 1.0, mu_u: float = 0.0,
            rest: float = 0.0, rule: str = "fluctinit", replicates: int = 12, batch: int = 16, n_in: int = 100,
            n: int = 256, n_steps: int = 300, seed: int = 0) -> Measurement:
    """The membrane check of one case (module docstring); ``n_steps`` after the burn-in."""

    def make(g: torch.Generator) -> Built:
        b = build(framework, kind, n_in=n_in, n=n, dt=dt, rest=rest)
        if rule == "fluctinit":
            b.init(b.module, nu=nu, sigma_u=sigma_u, mu_u=mu_u, generator=g, **b.dt_kwargs)
            return b
        target = dict(sigma_u=sigma_u * b.theta, mu_u=mu_u * b.theta, theta=b.theta, kernel=paper_kernel(*b.nominal, dt),
                      generator=g)
        with torch.no_grad():
            for mod in b.module.modules():
                if isinstance(mod, nn.Linear) and mod.bias is not None:
                    mod.bias.zero_()
            if b.rec is None:
                fluctuation_normal_(b.weight, nu, **target)
            else:
                fluctuation_recurrent_(b.weight, b.rec, nu, **target)
                if framework == "norse":
                    b.rec.fill_diagonal_(0.0)
        return b

    return measure_built(make, framework=framework, neuron=kind, rule=rule, dt=dt, nu=nu, sigma_u=sigma_u,
                         mu_u=mu_u, replicates=replicates, batch=batch, n_steps=n_steps, seed=seed)


def measure_built(make: Callable[[torch.Generator], Built], *, framework: str, neuron: str, rule: str, dt: float,
                  nu: float, sigma_u: float, mu_u: float, replicates: int, batch: int, n_steps: int,
                  seed: int) -> Measurement:
    """The check of networks made (and initialized) by ``make(generator)``, one per replicate."""
    g = torch.Generator().manual_seed(seed)
    k_long = impulse(make(torch.Generator().manual_seed(seed)), 20 * int(TAU_MEM / dt))
    burn = _burn_in(k_long)
    sum_k = float(k_long.sum())
    r, m = [], []
    for _ in range(replicates):
        b = make(g)
        n_in, n = b.weight.shape[1], b.weight.shape[0]
        x = poisson_spikes(batch, burn + n_steps, n_in, nu, dt, generator=g)
        z = None if b.rec is None else poisson_spikes(batch, burn + n_steps, n, nu, dt, generator=g)
        u = _run(b, x, z)[:, burn:].double()
        w_sum = b.weight.detach().double().sum(1) + (0.0 if b.rec is None else b.rec.detach().double().sum(1))
        mean = b.rest + nu * dt * sum_k * w_sum  # exact, from the framework's impulse response
        r.append(float((((u - mean) ** 2).mean(dim=(0, 1)) / (sigma_u * b.theta) ** 2).mean()))
        m.append(float(((u.mean(dim=(0, 1)) - b.rest) / b.theta).mean()))
    r, m = np.array(r), np.array(m)
    ratio = math.sqrt(r.mean())
    return Measurement(framework, neuron, rule, dt, nu, ratio, float(r.std(ddof=1) / math.sqrt(len(r)) / (2 * ratio)),
                       math.sqrt(theory.bernoulli_variance_factor(nu, dt)), float(m.mean()),
                       float(m.std(ddof=1) / math.sqrt(len(m))), mu_u, replicates)


def nir_roundtrip(folder: str, *, n_in: int, n: int, dt: float, nu: float, sigma_u: float = 1.0,
                  rule: str = "fluctinit") -> Callable[[torch.Generator], Built]:
    """``make`` for :func:`measure_built`: an snntorch Synaptic layer exported to NIR (dt = 1e-4 s, the
    exporter's), given weights by ``fluctinit init-nir`` (the command line, in this process; ``rule="paper"``:
    the paper's continuous kernel at the exported time constants instead), imported back into snntorch and run
    there at ``dt`` per step (rates ``nu`` per second of that step, ``nu dt / 1e-4`` in the graph)."""
    import os

    import nir
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    from fluctinit.cli import main

    a, b = math.exp(-dt / TAU_SYN), math.exp(-dt / TAU_MEM)
    net = nn.Sequential(nn.Linear(n_in, n), snn.Synaptic(alpha=torch.full((n,), a), beta=torch.full((n,), b),
                                                         threshold=torch.ones(n), init_hidden=True))
    source = os.path.join(folder, "exported.nir")
    quiet(lambda: nir.write(source, export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])))
    graph_dt, graph_nu = 1e-4, nu * dt / 1e-4

    def make(g: torch.Generator) -> Built:
        out = os.path.join(folder, "initialized.nir")
        seed = int(torch.randint(0, 2**62, (1,), generator=g))
        if rule == "fluctinit":
            argv = ["init-nir", source, out, "--nu", repr(graph_nu), "--dt", repr(graph_dt), "--sigma-u", repr(sigma_u),
                    "--seed", str(seed)]
            if quiet(lambda: main(argv)) != 0:
                raise RuntimeError(f"fluctinit {' '.join(argv)} failed")
        else:
            graph = nir.read(source)
            node = graph.nodes["0"]
            kern = theory.kernel_integrals(float(graph.nodes["1"].tau_mem[0]), float(graph.nodes["1"].tau_syn[0]),
                                           mode="continuous")
            w = torch.empty(node.weight.shape, dtype=torch.float64)
            fluctuation_normal_(w, graph_nu, sigma_u=sigma_u, kernel=kern, generator=torch.Generator().manual_seed(seed))
            node.weight, node.bias = w.numpy().astype(np.float32), np.zeros_like(node.bias)
            nir.write(out, graph)
        module = quiet(lambda: import_from_nir(nir.read(out)))
        fc, lif = module.get_submodule("0"), module.get_submodule("1")
        with torch.no_grad():
            lif.threshold.fill_(FREE)  # free membrane; the target's unit stays the exported threshold, 1

        def start(batch: int) -> None:
            lif.reset_mem()

        def step(x, z):
            lif(fc(x))  # the imported modules' own forward (the graph module adds only its glue)
            return lif.mem

        return Built(module, fc.weight, None, step, start, None, 1.0, 0.0, (TAU_MEM, TAU_SYN), {})

    return make


def nir_roundtrip_expected(dt: float, nu: float) -> float:
    """What :func:`nir_roundtrip` measures: sqrt(1 - nu dt) times sqrt(epsilon_hat of snntorch's update at the
    imported (float32) decays / epsilon_hat of NIR's continuous neuron the weights were drawn for), the
    O(dt/tau) difference between the exporter's two semantics."""
    a, b = float(torch.tensor(math.exp(-dt / TAU_SYN))), float(torch.tensor(math.exp(-dt / TAU_MEM)))
    _, eh_discrete = discrete_kernel(a, b, 1.0, 1e-4)
    tau_mem, tau_syn = 1e-4 / (1 - b), 1e-4 / (1 - a)  # snntorch's exporter, dt = 1e-4 s
    _, eh_nir = continuous_kernel(tau_mem, tau_syn, (tau_mem / 1e-4) * (tau_syn / 1e-4) * 1e-4)  # r w_in A
    return math.sqrt(theory.bernoulli_variance_factor(nu, dt) * float(eh_discrete / eh_nir))


def quiet(call: Callable[[], Any]) -> Any:
    """``call()`` with its prints to stdout swallowed (snntorch's NIR import prints warnings)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call()
