"""Fluctuation-driven initialization of NIR graphs (the Neuromorphic Intermediate Representation).

NIR's neurons are continuous (nir/ir/neuron.py, read in nir 1.0.8):

    CubaLIF:  tau_syn dI/dt = -I + w_in S,   tau_mem dv/dt = (v_leak - v) + r I
    LIF:                                      tau     dv/dt = (v_leak - v) + r S

where ``S`` is the output of the weight node feeding them (``W x``, with ``x`` a sum of spikes
``A delta(t - t_k)`` of area ``A``).  Per unit weight one input spike makes ``I`` jump by
``w_in A / tau_syn``: the kernel is that times the unit-jump kernel of
:func:`fluctinit.theory.psp_kernel_continuous`, with integral ``area = r w_in A`` (``r A`` for LIF),
and (:func:`fluctinit.interop.continuous_kernel`)

    epsilon_bar = area,   epsilon_hat = area^2 / (2 (tau_mem + tau_syn))    (tau_syn = 0 for LIF).

The rest is ``v_leak`` and the threshold distance ``v_threshold - v_leak``.

Rates and the step are not in a graph: they are arguments, in the graph's own time base.
snntorch's and spikingjelly's exporters write a spike as a pulse of one step, ``r = tau_mem/dt``
and ``w_in = tau_syn/dt`` (snntorch with ``dt = 1e-4`` s, and ``tau = dt/(1 - beta)``): for such a
graph pass that ``dt`` (``spike_area`` defaults to it) and ``nu`` as spikes per step / dt.
Imported back, the discrete neuron's epsilon_hat differs from this continuous one by O(dt/tau)
(docs/interop.md measures it).

Example::

    import nir, torch
    from fluctinit.interop import nir as fi_nir

    graph = nir.read("net.nir")
    new = fi_nir.init_(graph, nu=15.8 * 2e-3 / 1e-4, dt=1e-4, generator=torch.Generator().manual_seed(0))
    nir.write("net_init.nir", new)

or ``fluctinit init-nir net.nir net_init.nir --nu 316 --dt 1e-4``.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from fluctinit.errors import ParameterError, check

from ._rule import CONSTRAINTS, Neuron, Projection, prepare, rates

__all__ = ["init_", "SUPPORTED"]

SUPPORTED = "NIR CubaLIF, LIF"


def _types():
    import nir

    return dict(weights=(nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d), neurons=(nir.CubaLIF, nir.LIF),
                passing=(nir.Input, nir.Output, nir.Flatten), graph=nir.NIRGraph, ends=(nir.Input, nir.Output))


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Every node of ``graph`` and its subgraphs by dotted key, and the edges between them; an edge
    to (from) a subgraph node enters its Input (leaves its Output) nodes."""
    t = _types()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    ports: dict[str, tuple[list[str], list[str]]] = {}
    for key, node in graph.nodes.items():
        path = prefix + key
        if isinstance(node, t["graph"]):
            sub_nodes, sub_edges = _flatten(node, path + ".")
            nodes.update(sub_nodes)
            edges += sub_edges
            ports[key] = ([f"{path}.{k}" for k, n in node.nodes.items() if isinstance(n, t["ends"][0])],
                          [f"{path}.{k}" for k, n in node.nodes.items() if isinstance(n, t["ends"][1])])
        else:
            nodes[path] = node
    for a, b in graph.edges:
        for src in ports[a][1] if a in ports else [prefix + a]:
            for dst in ports[b][0] if b in ports else [prefix + b]:
                edges.append((src, dst))
    return nodes, edges


def _through(start: str, step: dict[str, list[str]], nodes: dict[str, Any], passing: tuple, top: set[str]) -> set[str]:
    """The nodes reached from ``start`` along ``step``, passing Input/Output of subgraphs and Flatten."""
    out, todo, seen = set(), list(step.get(start, [])), set()
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        if isinstance(nodes[k], passing) and k not in top:
            todo += step.get(k, [])
        else:
            out.add(k)
    return out


def _refuse(message: str, value: Any) -> ParameterError:
    return ParameterError(f"`graph` {message}; got {value!r}", ["graph"], [value])


def _neuron(key: str, node: Any, area: float) -> Neuron:
    import nir

    if isinstance(node, nir.CubaLIF):
        return Neuron(name=key, kind="nir.CubaLIF", alpha=node.tau_syn, beta=node.tau_mem,
                      gain=np.asarray(node.r) * np.asarray(node.w_in) * area,
                      theta=np.asarray(node.v_threshold) - np.asarray(node.v_leak), rest=node.v_leak, continuous=True)
    return Neuron(name=key, kind="nir.LIF", alpha=0.0, beta=node.tau, gain=np.asarray(node.r) * area,
                  theta=np.asarray(node.v_threshold) - np.asarray(node.v_leak), rest=node.v_leak, continuous=True)


def _plan(nodes: dict[str, Any], edges: list[tuple[str, str]], skip: set[str], top: set[str]):
    """(feed-forward key, neuron key, recurrent key | None) per neuron fed by weights, in node order."""
    t = _types()
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    feeds: dict[str, list[str]] = {}
    for key, node in nodes.items():
        if not isinstance(node, t["weights"]) or key in skip:
            continue
        to = _through(key, succ, nodes, t["passing"], top)
        neurons = [k for k in to if isinstance(nodes[k], t["neurons"])]
        if len(to) != 1 or len(neurons) != 1:
            kinds = sorted(f"{k} ({type(nodes[k]).__name__})" for k in to) or ["nothing"]
            raise _refuse(f"node {key!r} ({type(node).__name__}) must feed exactly one {SUPPORTED} node; it feeds "
                          f"{', '.join(kinds)}; pass skip=({key!r},) to leave it as it is", key)
        feeds.setdefault(neurons[0], []).append(key)
    plan = []
    for key in nodes:
        if key not in feeds or key in skip:
            continue
        rec = [w for w in feeds[key] if key in _through(w, pred, nodes, t["passing"], top)]
        ff = [w for w in feeds[key] if w not in rec]
        if len(ff) != 1 or len(rec) > 1:
            raise _refuse(f"neuron {key!r} must be fed by one feed-forward weight node (and at most one recurrent "
                          f"one); feed-forward {ff!r}, recurrent {rec!r}", key)
        plan.append((ff[0], key, rec[0] if rec else None))
    return plan


def _projection(key: str, node: Any) -> Projection:
    w = np.asarray(node.weight)
    if w.ndim < 2 or (not hasattr(node, "stride") and w.ndim != 2):
        raise _refuse(f"node {key!r} must have a 2-D weight (out, in) or a convolution kernel (C_out, C_in, *k)",
                      tuple(w.shape))
    bias = getattr(node, "bias", None)
    return Projection(key, torch.tensor(w, dtype=torch.float64),
                      None if bias is None else torch.tensor(np.asarray(bias), dtype=torch.float64))


def init_(
    graph: Any,
    *,
    nu: float | Sequence[float],
    dt: float,
    sigma_u: float = 1.0,
    mu_u: float = 0.0,
    spike_area: float | None = None,
    alpha: float = 0.9,
    nu_rec: float | Sequence[float] | None = None,
    keep_bias: bool = False,
    skip: Iterable[str] = (),
    generator: torch.Generator | None = None,
    return_report: bool = False,
) -> Any:
    """A copy of a NIR graph with fluctuation-driven weights for NIR's continuous semantics.

    Every Affine, Linear, Conv1d and Conv2d node feeding a CubaLIF or LIF node (through
    Flatten and the Input/Output nodes of subgraphs) gets ``W ~ N(mu_w, sigma_w^2)`` for the
    kernel of the module docstring; a weight node fed by the neuron it feeds (a cycle, as
    snntorch exports RSynaptic and RLeaky) is that neuron's recurrent weight (eqs. 34-39).

    Args:
        graph: a ``nir.NIRGraph`` (left unchanged).
        nu: input rate (Hz, the graph's time base), or one per initialized layer (in node order).
        dt: the step the graph was exported with (s); only the default of ``spike_area``.
        sigma_u, mu_u: the target, in units of ``v_threshold - v_leak``.
        spike_area: the area A of one input spike (s); default ``dt`` (a pulse of one step).
        alpha, nu_rec, keep_bias, skip, generator: as :func:`fluctinit.interop.snntorch.init_`
            (``skip``: node keys, dotted inside subgraphs).

        return_report: also return one :class:`~fluctinit.interop.LayerReport` per initialized layer
            (tau_mem, tau_syn the graph's).

    Returns:
        The new ``nir.NIRGraph``; with ``return_report``, ``(new_graph, reports)``.

    Raises:
        ParameterError: a bad argument, or a weight node that feeds anything but one CubaLIF/LIF node.
    """
    t = _types()
    if not isinstance(graph, t["graph"]):
        raise ParameterError(f"`graph` must be a nir.NIRGraph; got {type(graph).__name__}", ["graph"], [graph])
    dt = check("dt", dt, CONSTRAINTS["dt"])
    area = dt if spike_area is None else check("spike_area", spike_area, CONSTRAINTS["spike_area"])
    for name, value in (("sigma_u", sigma_u), ("mu_u", mu_u), ("alpha", alpha)):
        check(name, value, CONSTRAINTS[name])
    skip = {skip} if isinstance(skip, str) else set(skip)
    new = copy.deepcopy(graph)
    nodes, edges = _flatten(new)
    missing = sorted(skip - set(nodes))
    if missing:
        raise ParameterError(f"`skip` must name nodes of the graph; got {missing!r}", ["skip"], [missing])
    plan = _plan(nodes, edges, skip, set(new.nodes))  # the graph's own Input and Output are its ends
    names = [ff for ff, _, _ in plan]
    nus = rates("nu", nu, names)
    nu_recs = [None] * len(plan) if nu_rec is None else rates("nu_rec", nu_rec, names)
    prepared = []
    for (ff, key, rec), nu_k, nu_rec_k in zip(plan, nus, nu_recs):
        proj = _projection(ff, nodes[ff])
        rproj = None if rec is None else _projection(rec, nodes[rec])
        report, fill = prepare(_neuron(key, nodes[key], area), proj, rproj, nu=nu_k, dt=dt, sigma_u=sigma_u, mu_u=mu_u,
                               alpha=alpha, nu_rec=nu_rec_k, amplitude=1.0, keep_bias=keep_bias, generator=generator)
        prepared.append((report, fill, (proj, rproj)))
    for _, fill, projections in prepared:
        fill()
        for p in projections:
            if p is None:
                continue
            node = nodes[p.name]
            node.weight = p.weight.numpy().astype(np.asarray(node.weight).dtype)
            if p.bias is not None:
                node.bias = p.bias.numpy().astype(np.asarray(node.bias).dtype)
    reports = [report for report, _, _ in prepared]
    return (new, reports) if return_report else new
