"""The training-step benchmark: one training step of the paper's networks on each simulation path.

Used by ``fluctinit bench`` (:mod:`fluctinit.cli.bench`) and benchmarks/bench_core.py.  On the same inputs and initial weights, one training step (forward, BPTT, Adam) is timed for

* ``plain``: the reference autograd loop (``fluctinit.sim`` backend ``"reference"``);
* ``fused``: the fast core (``fluctinit.sim._core``, backend ``"fused"``), input spikes given as prepared
  :class:`SpikeEvents` (data sets such as SHD are stored as events; building them is reported
  separately as ``convert_s``), and ``fused_dense_input_s`` with the dense tensor as input;
* ``floor``: the two dense input products alone (``x W^T`` and its weight gradient
  ``dJ^T x``) -- the cost any dense implementation pays;
* peers, when importable (never dependencies), each the closest current-based LIF driven by
  an ``unbind`` time loop with a dense input product: snntorch ``Synaptic`` (fast-sigmoid
  surrogate, slope 20 = SuperSpike beta 20, reset to zero); norse ``LIFCell`` /
  ``LIFRecurrentCell`` + ``LICell`` (method "super", alpha 20; norse's sequence modules index
  ``input[t]`` in their loop, which makes backward quadratic in T); spikingjelly single-step
  ``SynapseFilter`` + ``LIFNode`` (SoftSign surrogate alpha 20: SuperSpike's shape up to a
  constant factor, detached reset).  Their neuron equations differ in constant factors
  (e.g. no ``1 - lambda`` input scaling), which does not change the cost.

Shapes (paper table 4): randman 400 x 100 steps, 20 -> 128 -> 10, inputs Bernoulli at 5 Hz;
shd 400 x 350 steps, 700 -> 128 -> 20 at 15.8 Hz; shd-rec the same with 128 recurrent units.
dt = 2 ms, tau_out = T dt.  Weights: fluctuation-driven (sigma_U = 1) from fluctinit.theory.
Each path runs one warm-up step, then ``--batches`` timed steps, round-robin over the paths
(so machine load hits all alike); reported are medians of wall time and of process CPU time,
sample-steps per second and the peak resident memory added by one step (CUDA: peak allocated).
"""

from __future__ import annotations

import math
import statistics
import time

SHAPES = {
    "randman": dict(batch=400, steps=100, n_in=20, n_hidden=128, n_out=10, rate=5.0, recurrent=False),
    "shd": dict(batch=400, steps=350, n_in=700, n_hidden=128, n_out=20, rate=15.8, recurrent=False),
    "shd-rec": dict(batch=400, steps=350, n_in=700, n_hidden=128, n_out=20, rate=15.8, recurrent=True),
}
DT = 2e-3
TAU_MEM, TAU_SYN = 20e-3, 10e-3
PEERS = ("snntorch", "norse", "spikingjelly")


# bytes per (sample, step) and unit, estimated from the peak memory of `fluctinit bench`
# (peak_step_mib): inputs 3 float32 (the uniform draw, the comparison, the spike tensor and its
# events), hidden and readout units 16 float32 (states, surrogate derivatives, gradients, the
# per-step tensors of the reference loop and the peers)
_INPUT_BYTES = 12
_UNIT_BYTES = 64


def step_bytes(name: str, *, batch: int | None = None) -> int:
    """Estimated peak bytes of one shape's problem and training step (the most a path needs),
    so a harness can refuse a batch that does not fit before it allocates."""
    cfg = SHAPES[name]
    b = cfg["batch"] if batch is None else batch
    return b * cfg["steps"] * (cfg["n_in"] * _INPUT_BYTES + (cfg["n_hidden"] + cfg["n_out"]) * _UNIT_BYTES)


# ---------------------------------------------------------------------------- problem set-up


def make_problem(name: str, *, batch: int | None = None, device: str = "cpu", seed: int = 0, dtype=None):
    """Inputs, labels and initial weights for one shape (a dict of tensors and sizes)."""
    import torch

    from fluctinit.theory import feedforward_params, recurrent_params

    dtype = dtype or torch.float32
    cfg = dict(SHAPES[name])
    if batch is not None:
        cfg["batch"] = batch
    g = torch.Generator().manual_seed(seed)
    b, t, n_in, n_h, n_out = cfg["batch"], cfg["steps"], cfg["n_in"], cfg["n_hidden"], cfg["n_out"]
    p = cfg["rate"] * DT  # Bernoulli probability per bin
    x = (torch.rand(b, t, n_in, generator=g) < p).to(dtype)
    if cfg["recurrent"]:
        rp = recurrent_params(n_in, n_h, cfg["rate"], sigma_u=1.0)
        sw, sv = rp.sigma_w, rp.sigma_v
    else:
        sw, sv = feedforward_params(n_in, cfg["rate"], sigma_u=1.0).sigma_w, None
    w = sw * torch.randn(n_h, n_in, generator=g, dtype=dtype)
    v = None if sv is None else sv * torch.randn(n_h, n_h, generator=g, dtype=dtype)
    wo = torch.randn(n_out, n_h, generator=g, dtype=dtype) / math.sqrt(n_h)
    labels = torch.randint(0, n_out, (b,), generator=g)
    out = dict(cfg, x=x, w=w, v=v, wo=wo, labels=labels, tau_out=t * DT)
    for k in ("x", "w", "v", "wo", "labels"):
        if out[k] is not None:
            out[k] = out[k].to(device)
    return out


def _loss(u_out, labels):
    import torch

    return torch.nn.functional.cross_entropy(u_out.amax(1), labels)  # eqs. 20-21, max over time


def _params(prob):
    import torch

    names = ["w", "wo"] + (["v"] if prob["v"] is not None else [])
    return {k: torch.nn.Parameter(prob[k].clone()) for k in names}


def _adam_step(params, forward, labels, *, after=None):
    """The timed training step of every path: Adam (lr 1e-3) on the loss of ``forward()``.

    ``forward()`` returns the readout membrane ``(batch, time, n_out)``; the loss is the
    cross-entropy of its maximum over time (eqs. 20-21).  ``after()`` runs once the weights are
    updated (a peer's state reset).  Returns ``step() -> float`` (the loss)."""
    import torch

    opt = torch.optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = _loss(forward(), labels)
        loss.backward()
        opt.step()
        if after is not None:
            after()
        return float(loss.detach())

    return step


def _scan(seq, cell, state, v=None):
    """Drive a single-step ``cell`` over time with an ``unbind`` loop (how the peers are timed).

    ``out[t], state = cell(seq[:, t] + out[t-1] @ v.T, state)`` with ``out[-1] = 0``, or without
    the recurrent term when ``v`` is None; ``seq`` is ``(batch, time, n)``.  Returns the outputs
    stacked along time."""
    import torch

    out = None if v is None else torch.zeros_like(seq[:, 0])
    outs = []
    for c in seq.unbind(1):
        if v is not None:
            c = c + out @ v.t()
        out, state = cell(c, state)
        outs.append(out)
    return torch.stack(outs, 1)


# ---------------------------------------------------------------------------- the paths


def _make_sim(prob, backend: str, events: bool):
    """A training step of fluctinit's simulator on ``backend`` ("reference" or "fused"); with
    ``events`` the input is prepared spike events (built once, outside the step)."""
    from fluctinit.sim import NeuronParams, ReadoutParams, SpikeEvents, dispatch

    ps = _params(prob)
    lif, ro = dispatch("lif_dense", backend), dispatch("readout", backend)
    npar, rpar = NeuronParams(tau_mem=TAU_MEM, tau_syn=TAU_SYN, dt=DT), ReadoutParams(tau_out=prob["tau_out"], dt=DT)
    x = prob["x"]
    inp = SpikeEvents.from_dense(x, time_major=False).prepare(prob["n_hidden"]) if events else x

    def forward():
        s, _ = lif(inp, ps["w"], ps.get("v"), params=npar)
        return ro([s], [ps["wo"]], params=rpar)

    return _adam_step(ps.values(), forward, prob["labels"])


def make_plain(prob):
    """The reference loop (dense input)."""
    return _make_sim(prob, "reference", events=False)


def make_fused(prob, *, events=True):
    """The fast core, input as prepared events (``events``) or the dense tensor."""
    return _make_sim(prob, "fused", events)


def make_floor(prob):
    import torch

    x2 = prob["x"].transpose(0, 1).reshape(-1, prob["n_in"])
    w = prob["w"]
    dj = torch.randn(x2.shape[0], w.shape[0], dtype=w.dtype, device=w.device)

    def step():
        j = x2 @ w.t()
        gw = dj.t() @ x2
        return float(j[0, 0] + gw[0, 0])

    return step


def _peer_snntorch(prob):
    import snntorch as snn
    import torch
    from snntorch import surrogate as ssur

    ps = _params(prob)
    lm, ls, lo = math.exp(-DT / TAU_MEM), math.exp(-DT / TAU_SYN), math.exp(-DT / prob["tau_out"])
    lif = snn.Synaptic(alpha=ls, beta=lm, threshold=1.0, spike_grad=ssur.fast_sigmoid(slope=20), reset_mechanism="zero")
    ro = snn.Synaptic(alpha=ls, beta=lo, threshold=1e9, reset_mechanism="none")
    x = prob["x"]

    def hidden(c, state):
        spk, syn, mem = lif(c, *state)
        return spk, (syn, mem)

    def readout(c, state):
        _, syn, mem = ro(c, *state)
        return mem, (syn, mem)

    def zeros(seq):  # (syn, mem) at t = 0
        return torch.zeros_like(seq[:, 0]), torch.zeros_like(seq[:, 0])

    def forward():
        cur = x @ ps["w"].t()
        co = _scan(cur, hidden, zeros(cur), ps.get("v")) @ ps["wo"].t()
        return _scan(co, readout, zeros(co))

    return _adam_step(ps.values(), forward, prob["labels"])


def _peer_norse(prob):
    import torch
    from norse.torch import LICell, LIFCell, LIFParameters, LIFRecurrentCell, LIParameters

    lp = LIFParameters(
        tau_syn_inv=torch.as_tensor(1 / TAU_SYN), tau_mem_inv=torch.as_tensor(1 / TAU_MEM),
        v_th=torch.as_tensor(1.0), method="super", alpha=torch.as_tensor(20.0),
    )
    li = LICell(p=LIParameters(tau_syn_inv=torch.as_tensor(1 / TAU_SYN), tau_mem_inv=torch.as_tensor(1 / prob["tau_out"])), dt=DT)
    ps = _params(prob)
    x = prob["x"]
    rec = prob["v"] is not None
    if rec:
        cell = LIFRecurrentCell(prob["n_in"], prob["n_hidden"], p=lp, dt=DT).to(x.device)
        with torch.no_grad():
            cell.input_weights.copy_(prob["w"])
            cell.recurrent_weights.copy_(prob["v"])
        params = [*cell.parameters(), ps["wo"]]
    else:
        cell = LIFCell(p=lp, dt=DT)
        params = [ps["w"], ps["wo"]]

    def forward():
        # the cells, driven by an unbind loop (norse's own LIF/LI modules index input[t]
        # inside their loop: quadratic backward); a norse cell maps (input, state) -> (output, state)
        z = _scan(x if rec else x @ ps["w"].t(), cell, None)
        return _scan(z @ ps["wo"].t(), li, None)

    return _adam_step(params, forward, prob["labels"])


def _peer_spikingjelly(prob):
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    ps = _params(prob)
    # single-step modules driven by an unbind loop (the multi-step torch path indexes x_seq[t])
    syn = layer.SynapseFilter(tau=TAU_SYN / DT, step_mode="s")
    lif = neuron.LIFNode(
        tau=TAU_MEM / DT, decay_input=True, v_threshold=1.0, v_reset=0.0,
        surrogate_function=surrogate.SoftSign(alpha=20.0), detach_reset=True, step_mode="s",
    )
    syn_o = layer.SynapseFilter(tau=TAU_SYN / DT, step_mode="s")
    ro = neuron.LIFNode(tau=prob["tau_out"] / DT, decay_input=True, v_threshold=float("inf"), step_mode="s")
    x = prob["x"]

    def hidden(c, state):  # the modules keep their own state
        return lif(syn(c)), state

    def readout(c, state):
        ro(syn_o(c))
        return ro.v, state

    def forward():
        spk = _scan(x @ ps["w"].t(), hidden, None, ps.get("v"))
        return _scan(spk @ ps["wo"].t(), readout, None)

    def reset():
        for m in (lif, syn, syn_o, ro):
            functional.reset_net(m)

    return _adam_step(ps.values(), forward, prob["labels"], after=reset)


_PEER_MAKERS = {"snntorch": _peer_snntorch, "norse": _peer_norse, "spikingjelly": _peer_spikingjelly}


def available_peers() -> list[str]:
    import importlib.util

    return [p for p in PEERS if importlib.util.find_spec(p) is not None]


# ---------------------------------------------------------------------------- measuring


def _rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set size (VmHWM)
        return True
    except OSError:
        return False


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_step_mib(step, device: str) -> float | None:
    """Memory one step adds at its peak: CUDA peak allocated, or the CPU peak resident set
    size above the resident size before the step (Linux /proc)."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    import ctypes
    import gc

    gc.collect()
    try:  # hand freed heap memory back to the OS, so the step's allocations show in the RSS
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    before = _status_kib("VmRSS")
    if before is None or not _rss_reset():
        step()
        return None
    step()
    peak = _status_kib("VmHWM")
    return None if peak is None else max(0.0, (peak - before) / 1024)


def _timed(step, device: str) -> tuple[float, float]:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    w0, c0 = time.perf_counter(), time.process_time()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.process_time() - c0


def bench_shape(name: str, *, batches: int = 5, batch: int | None = None, device: str = "cpu", seed: int = 0,
                peers: bool = True, log=None) -> dict:
    """Measure every path on one shape; returns the JSON record for it."""
    import torch

    from fluctinit.sim.denormal import flushing as _flushing

    was_flushing = _flushing()
    torch.set_flush_denormal(True)  # every path alike (the "denormals flushed")
    try:
        return _bench_shape(name, batches=batches, batch=batch, device=device, seed=seed, peers=peers, log=log)
    finally:
        if not was_flushing:
            torch.set_flush_denormal(False)


def bench_shapes(names, *, batches: int = 5, batch: int | None = None, device: str = "cpu", seed: int = 0,
                 peers: bool = True, threads: int | None = None, log=None) -> dict:
    """:func:`bench_shape` for each shape in ``names``: ``{name: record}`` (what ``fluctinit bench`` prints).

    Args:
        names: keys of :data:`SHAPES`, in the order measured.
        threads: torch CPU threads for every path while measuring (default: torch's); the
            previous count is restored afterwards.
        log: ``log(message)`` after each round of timed steps, or ``None``.

    Raises:
        ParameterError: ``device="cuda"`` without CUDA.
    """
    import torch

    from fluctinit.errors import ParameterError

    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("`device` must be 'cpu' when CUDA is not available; got 'cuda'", ["device"], [device])
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return {name: bench_shape(name, batches=batches, batch=batch, device=device, seed=seed, peers=peers, log=log)
                for name in names}
    finally:
        torch.set_num_threads(before)


def _bench_shape(name, *, batches, batch, device, seed, peers, log) -> dict:
    import torch

    prob = make_problem(name, batch=batch, device=device, seed=seed)
    t0 = time.perf_counter()
    from fluctinit.sim import SpikeEvents

    SpikeEvents.from_dense(prob["x"], time_major=False).prepare(prob["n_hidden"])
    convert_s = time.perf_counter() - t0
    makers = {"plain": make_plain, "fused": make_fused, "fused_dense_input": lambda p: make_fused(p, events=False),
              "floor": make_floor}
    errors = {}
    if peers:
        for peer in available_peers():
            makers[peer] = _PEER_MAKERS[peer]
    steps, mem = {}, {}
    for key, make in makers.items():
        try:
            steps[key] = make(prob)
            mem[key] = peak_step_mib(steps[key], device)  # also the warm-up step
        except Exception as err:  # a peer that fails to build is reported, not fatal
            if key in ("plain", "fused", "fused_dense_input", "floor"):
                raise
            errors[key] = f"{type(err).__name__}: {err}"
            steps.pop(key, None)
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    for rep in range(batches):
        for key, step in steps.items():
            w, c = _timed(step, device)
            wall[key].append(w)
            cpu[key].append(c)
        if log:
            log(f"  {name}: repeat {rep + 1}/{batches} done")
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    sample_steps = prob["batch"] * prob["steps"]
    peer_names = [k for k in steps if k in PEERS]
    return {
        "plain_s": med["plain"],
        "fused_s": med["fused"],
        "floor_s": med["floor"],
        "speedup": med["plain"] / med["fused"],
        "peers": {k: med[k] for k in peer_names},
        "peer_errors": errors,
        "fused_dense_input_s": med["fused_dense_input"],
        "convert_s": convert_s,
        "cpu_s": med_cpu,
        "wall_all_s": wall,
        "sample_steps_per_s": {k: sample_steps / v for k, v in med.items() if k != "floor"},
        "peak_step_mib": mem,
        "batch": prob["batch"],
        "steps": prob["steps"],
        "repeats": batches,
        "device": device,
        "threads": torch.get_num_threads(),
        "keep_freed_memory": _memory_kept(),
        "compiled_kernels": _kernels(),
        "input_density": float((prob["x"] != 0).float().mean()),
    }


def _memory_kept() -> bool:
    from fluctinit.sim.memory import _state

    return bool(_state["applied"])


def _kernels() -> bool:
    from fluctinit.sim._core import compiled

    return bool(compiled.AVAILABLE)


def format_table(results: dict) -> str:
    lines = [
        "shape     path                  s/batch   cpu s  sample-steps/s  peak MiB  vs plain",
        "--------  ------------------  --------  ------  --------------  --------  --------",
    ]
    for shape, r in results.items():
        rows = ["plain", "fused", "fused_dense_input", "floor", *r["peers"]]
        for key in rows:
            s = {"plain": r["plain_s"], "fused": r["fused_s"], "floor": r["floor_s"],
                 "fused_dense_input": r["fused_dense_input_s"]}.get(key, r["peers"].get(key))
            sps = r["sample_steps_per_s"].get(key)
            mem = r["peak_step_mib"].get(key)
            lines.append(
                f"{shape:<8}  {key:<18}  {s:8.3f}  {r['cpu_s'][key]:6.3f}  "
                f"{(f'{sps:14.0f}' if sps else '             -')}  "
                f"{(f'{mem:8.0f}' if mem is not None else '       -')}  {r['plain_s'] / s:7.2f}x"
            )
        for peer, err in r["peer_errors"].items():
            lines.append(f"{shape:<8}  {peer:<18}  failed: {err}")
        lines.append(f"{shape:<8}  (events built once per batch in {r['convert_s']:.3f} s, outside the step; "
                     f"input density {r['input_density']:.4f}; {r['repeats']} repeats, medians; "
                     f"{r['threads']} threads; freed memory kept: {'yes' if r.get('keep_freed_memory') else 'no'}; "
                     f"compiled CPU kernels: {'yes' if r.get('compiled_kernels') else 'no'})")
    return "\n".join(lines)
