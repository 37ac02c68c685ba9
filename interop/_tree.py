"""Walk a torch module tree (snntorch, norse, spikingjelly) and pair weight layers with the neurons they feed.

A network is read in registration order, as ``nn.Sequential`` runs it and as a tutorial-style
module (``fc1``, ``lif1``, ``fc2``, ...) defines it: each ``nn.Linear`` / ``nn.Conv1d`` /
``nn.Conv2d`` / ``nn.Conv3d`` feeds the next neuron layer, with only shape changes
(``nn.Flatten``, ``nn.Unflatten``, ``nn.Identity``) between them.  Anything else between a weight
layer and its neuron (pooling, normalization, dropout, another weight layer, a neuron the rule
does not map, the end of the network) is an error naming both: a layer is never skipped
silently.  ``skip`` names weight layers to leave as they are (a readout, say).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from fluctinit.errors import ParameterError, check

from ._rule import CONSTRAINTS, LayerReport, Neuron, Projection, prepare, rates

__all__ = ["Target", "Unsupported", "init_tree", "framework_init"]

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
SHAPE_ONLY = (nn.Flatten, nn.Unflatten, nn.Identity)


@dataclass
class Target:
    """A neuron layer, with the weights it holds itself (norse's recurrent cells) and its own step
    in seconds where it has one (norse's ``dt``)."""

    neuron: Neuron
    own: Projection | None = None
    recurrent: Projection | None = None
    dt: float | None = None
    module: nn.Module | None = None  # the neuron module itself (set by the walk)


@dataclass
class Unsupported:
    """A module of the framework that the rule does not map (a neuron model, a recurrent container)."""

    kind: str
    why: str = ""


Describe = Callable[[str, nn.Module], "Target | Unsupported | None"]


def _has_weights(module: nn.Module, recurse: bool = True) -> bool:
    """Whether ``module`` holds a weight matrix or kernel (a parameter of two or more dimensions)."""
    return any(p.dim() >= 2 for p in module.parameters(recurse=recurse))


def _walk(module: nn.Module, describe: Describe, prefix: str = "") -> Iterator[tuple[str, nn.Module, Any]]:
    """(name, module, what) in registration order; what is a Target, Unsupported, "weights",
    "shape", "loose" (other weights: a parameter of 2 or more dimensions) or "other"; neurons and
    unsupported modules are not entered."""
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        what = describe(path, child)
        if what is not None:
            yield path, child, what
        elif isinstance(child, WEIGHT_LAYERS):
            yield path, child, "weights"
        elif isinstance(child, SHAPE_ONLY):
            yield path, child, "shape"
        elif any(True for _ in child.children()):
            if _has_weights(child, recurse=False):
                yield path, child, "loose"
            yield from _walk(child, describe, path + ".")
        else:
            yield path, child, "loose" if _has_weights(child) else "other"


def _kind(module: nn.Module) -> str:
    return f"{type(module).__module__.split('.')[0]}.{type(module).__name__}"


def _refuse(message: str, name: str, value: Any) -> ParameterError:
    return ParameterError(f"`module` {message}; got {value!r}", ["module"], [value])


def _items(module: nn.Module, describe: Describe) -> Iterator[tuple[str, nn.Module, Any]]:
    """:func:`_walk`, or the module alone when it is a neuron itself (named by its class)."""
    what = describe(type(module).__name__, module)
    if what is not None:
        yield type(module).__name__, module, what
        return
    if _has_weights(module, recurse=False):
        yield type(module).__name__, module, "loose"
    yield from _walk(module, describe)


def _pairs(module: nn.Module, describe: Describe, skip: set[str], supported: str):
    """The (projection | None, target) pairs of the tree, and the skipped names found."""
    pending: tuple[str, nn.Module] | None = None
    skipping = False
    found: set[str] = set()
    out: list[tuple[Projection | None, Target, float]] = []
    amplitude = 1.0  # size of the spikes reaching the next weight layer (the data's: 1)
    for name, child, what in _items(module, describe):
        if what == "weights":
            if pending is not None:
                raise _refuse(f"layer {pending[0]!r} must feed a neuron, but {name!r} ({type(child).__name__}) "
                              "follows it first", pending[0], name)
            if name in skip:
                found.add(name)
                skipping = True
                continue
            if skipping:
                skipping = False
            pending = (name, child)
            continue
        if what == "shape":
            continue
        if what == "loose":
            if name in skip:
                found.add(name)
                continue
            shapes = [tuple(p.shape) for p in child.parameters(recurse=False) if p.dim() >= 2]
            raise _refuse(f"{name!r} ({type(child).__name__}) holds weights {shapes} that are not an nn.Linear or "
                          f"nn.Conv* feeding a neuron (supported: {supported}); pass skip=({name!r},) to leave them "
                          "as they are", name, name)
        if isinstance(what, Target):
            what.module = child
            if what.own is not None and pending is not None:
                raise _refuse(f"layer {pending[0]!r} must feed spikes to {name!r} ({what.neuron.kind}), which holds "
                              "its own input weights; remove the layer or initialize it on its own",
                              pending[0], name)
            if name in skip:
                found.add(name)
            elif skipping:
                pass
            elif what.own is not None:
                out.append((what.own, what, amplitude))
            elif pending is not None:
                w = pending[1]
                out.append((Projection(pending[0], w.weight, w.bias), what, amplitude))
            elif what.recurrent is not None:
                raise _refuse(f"recurrent layer {name!r} ({what.neuron.kind}) must be fed by a weight layer before "
                              "it (the rule splits the variance between the two)", name, name)
            pending, skipping = None, False
            amplitude = what.neuron.amplitude
            continue
        if isinstance(what, Unsupported):
            if pending is not None or _has_weights(child):
                feeder = f"layer {pending[0]!r} feeds {name!r}" if pending is not None else f"{name!r} holds weights; it"
                raise _refuse(f"{feeder} ({what.kind}), which fluctinit does not map{what.why} (supported: "
                              f"{supported}); pass skip=(...) to leave its weights as they are", name, what.kind)
            continue
        if pending is not None:  # "other": pooling, normalization, dropout, an activation ...
            raise _refuse(f"layer {pending[0]!r} must feed a neuron directly (only Flatten, Unflatten or Identity "
                          f"between), but {name!r} ({type(child).__name__}) sits between; its effect on the "
                          "membrane is not mapped", pending[0], name)
    if pending is not None:
        raise _refuse(f"layer {pending[0]!r} feeds no neuron (supported: {supported}); pass skip=({pending[0]!r},) "
                      "to leave a readout as it is", pending[0], pending[0])
    return out, found


def initialized_targets(module: nn.Module, describe: Describe, supported: str, skip: Iterable[str] = ()) -> list[Target]:
    """The neuron each initialized weight layer feeds, in the order :func:`init_tree` fills them."""
    skip = {skip} if isinstance(skip, str) else set(skip)
    return [target for _, target, _ in _pairs(module, describe, skip, supported)[0]]


def init_tree(
    module: nn.Module,
    describe: Describe,
    supported: str,
    *,
    nu: float | Sequence[float],
    dt: float | None,
    sigma_u: float,
    mu_u: float,
    alpha: float,
    nu_rec: float | Sequence[float] | None,
    keep_bias: bool,
    skip: Iterable[str],
    generator: torch.Generator | None,
) -> list[LayerReport]:
    """Initialize every weight layer of ``module`` for the neuron it feeds; return the reports in order.

    ``dt`` is the step in seconds; None: each target's own (norse's modules carry one).
    """
    if not isinstance(module, nn.Module):
        raise ParameterError(f"`module` must be a torch.nn.Module; got {type(module).__name__}", ["module"], [module])
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ParameterError(f"`generator` must be a torch.Generator or None; got {type(generator).__name__}",
                             ["generator"], [generator])
    for name, value in (("sigma_u", sigma_u), ("mu_u", mu_u), ("alpha", alpha)):
        check(name, value, CONSTRAINTS[name])
    if not isinstance(keep_bias, bool):
        raise ParameterError(f"`keep_bias` must be True or False; got {keep_bias!r}", ["keep_bias"], [keep_bias])
    skip = {skip} if isinstance(skip, str) else set(skip)
    pairs, found = _pairs(module, describe, skip, supported)
    if skip - found:
        missing = sorted(skip - found)
        raise ParameterError(f"`skip` must name weight layers or neurons of the module; got {missing!r}",
                             ["skip"], [missing])
    names = [proj.name for proj, _, _ in pairs]
    nus = rates("nu", nu, names)
    nu_recs = [None] * len(pairs) if nu_rec is None else rates("nu_rec", nu_rec, names)
    prepared = []
    for (proj, target, amplitude), nu_k, nu_rec_k in zip(pairs, nus, nu_recs):
        step = target.dt if dt is None else dt
        prepared.append(prepare(
            target.neuron, proj, target.recurrent, nu=nu_k, dt=check("dt", step, CONSTRAINTS["dt"]), sigma_u=sigma_u,
            mu_u=mu_u, alpha=alpha, nu_rec=nu_rec_k, amplitude=amplitude, keep_bias=keep_bias, generator=generator))
    for _, fill in prepared:  # every layer checked first: a refused network is left as it was
        fill()
    return [report for report, _ in prepared]


#: the Args, Returns and Raises of every framework's ``init_`` (the first lines are the framework's own)
_INIT_DOC = """
    Args:
        module: the network (``nn.Sequential`` or any module whose children are registered in
            the order they run).
        nu: input rate of every layer (Hz), or one per initialized layer, in order.
        dt: the time step the network runs at (s){dt}.
        sigma_u: target membrane standard deviation, in units of the threshold distance (> 0).
        mu_u: target membrane mean above rest, in units of the threshold distance (< 1).
        alpha: feed-forward share of the variance of a recurrent layer (0 < alpha < 1; eq. 34),
            as :func:`fluctinit.theory.recurrent_params` -- not snntorch's synaptic decay.
        nu_rec: rate of the recurrent inputs (Hz, one or one per layer); default the layer's ``nu``.
        keep_bias: leave biases as they are (default: zeroed, as the rule assumes).
        skip: names of weight layers or neurons to leave untouched (e.g. a readout).
        generator: torch.Generator for reproducible draws.

    Returns:
        One :class:`~fluctinit.interop.LayerReport` per initialized layer (fan-in, effective
        tau_mem and tau_syn, threshold distance, kernel integrals, mu_w, sigma_w, sigma_v).

    Raises:
        ParameterError: a bad argument, a weight layer that feeds no supported neuron (named),
            a decay outside [0, 1), a non-positive threshold distance, or an infeasible target.
    """


def framework_init(describe: Describe, supported: str, doc: str, *, dt_doc: str = "",
                   own_dt: bool = False) -> Callable[..., list[LayerReport]]:
    """The ``init_`` of a framework: :func:`init_tree` with its ``describe``, one signature for all.

    ``own_dt``: the framework's modules carry their step (norse), so ``dt`` may be left out.
    """

    def init_(
        module: nn.Module,
        *,
        nu: float | Sequence[float],
        dt: float | None = None,
        sigma_u: float = 1.0,
        mu_u: float = 0.0,
        alpha: float = 0.9,
        nu_rec: float | Sequence[float] | None = None,
        keep_bias: bool = False,
        skip: Iterable[str] = (),
        generator: torch.Generator | None = None,
    ) -> list[LayerReport]:
        if dt is None and not own_dt:
            raise ParameterError(f"`dt` must be the step the network runs at (s), {CONSTRAINTS['dt'].describe()}; "
                                 "got None", ["dt"], [None])
        if dt is not None:
            check("dt", dt, CONSTRAINTS["dt"])
        return init_tree(module, describe, supported, nu=nu, dt=dt, sigma_u=sigma_u, mu_u=mu_u, alpha=alpha,
                         nu_rec=nu_rec, keep_bias=keep_bias, skip=skip, generator=generator)

    init_.__doc__ = doc + _INIT_DOC.format(dt=dt_doc)
    init_.__module__ = describe.__module__  # help() and tracebacks name the framework's module
    return init_
