"""Per-layer firing rates and free-membrane sigma_u at initialization: the paper's common rate
against the predicted (``init.rates = "predicted"``) and layer-sequential (``"sequential"``)
rates and the per-layer calibrated kernels (``init.mode = "calibrated"``), on a batch of the test split.

    python benchmarks/rates_through_depth.py fsdd-conv7 --data-root data [--sigma-u 1] [--batch 100] [--seed 0]
    python benchmarks/rates_through_depth.py shd-conv10-rec --dataset fsdd --data-root data   # the paper's SHD net on FSDD

Prints, per hidden layer, the rate each layer was initialized for, its measured population rate
(Hz) at initialization, the rate lif_stationary predicts at the target, the rate predicted from
each neuron's own free-membrane moments (fluctinit.theory.lif_rate, averaged over the layer's
neurons), the same with the slow part of each neuron's variance (the variance of its 50 ms block
means) taken as a drifting mean (fluctinit.theory.adiabatic_rate), and from the free membrane's
own 50 ms blocks, each taken as stationary (fluctinit.theory.local_rate), with each block's rate
from the diffusion formula (lif_rates) and from the discrete update's stationary state
(stationary_rates); and the mean over its neurons of
the free membrane's pooled sigma_i given its actual inputs (exact: the layer's own free membrane
on its inputs and, for a recurrent layer, its own spikes, the w'Cw of fluctinit.training.free_sigma); ``--json FILE``
writes every number.  No training.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch


def rates_at_init(config: dict, data, seed: int, batch: int) -> dict:
    from fluctinit.sim.events import batch_major
    from fluctinit.theory import adiabatic_rate, lif_rate, local_rate
    from fluctinit.training import build_model, initialize_model, input_rate, layer_free_membrane
    from fluctinit.training.model import stationary_rate

    gen = torch.Generator().manual_seed(seed)
    model = build_model(config, generator=gen)
    nu = input_rate(config, model, data)
    t0 = time.perf_counter()
    assumed = initialize_model(model, config, float(nu), gen, data)
    init_s = time.perf_counter() - t0
    # measured on the test split: samples neither the calibration nor training has seen
    x, _ = next(iter(data.test.batches(batch, True, torch.Generator().manual_seed(1))))
    with torch.no_grad():
        out = model(x)
    dense = batch_major(x)
    dt = config["data"]["dt"]
    net = model.network
    measured = [float(s.float().mean()) / dt for s in out.outputs[:-1]]
    with torch.no_grad():
        first = dense if model.encoder is None else model.encoder(dense)
    inputs = [first.reshape(*first.shape[:2], *net.input_shape)]
    inputs += [net.passed_on(k, s) for k, s in enumerate(out.outputs[:-2])]
    sigma, sigma_se, per_neuron, adiabatic, local, local_exact, slow_share, target = [], [], [], [], [], [], [], []
    block = max(1, int(round(BLOCK_S / dt)))
    for layer, inp, own in zip(net.hidden, inputs, out.outputs[:-1]):
        p = layer.params
        target.append(stationary_rate(config["init"].get("mu_u") or 0.0, config["init"]["sigma_u"], p.tau_mem,
                                      p.tau_syn, p.dt, p.theta))
        if not hasattr(layer, "weight"):  # Dale layers
            for v in (sigma, sigma_se, per_neuron, adiabatic, local, local_exact, slow_share):
                v.append(None)
            continue
        # each neuron's pooled free-membrane moments and the slow part (50 ms block means), from
        # the layer's free membrane itself: the w'm, w'Cw and w' cov_slow w of
        # fluctinit.training.free_sigma (tests/test_init_calibrated.py checks they agree)
        u = layer_free_membrane(layer, inp, own).double()
        v = u.reshape(*u.shape[:3], -1)  # (batch, time, channel, position)
        mu_i, s_i = v.mean((0, 1, 3)).numpy(), v.std((0, 1, 3), unbiased=False).numpy()
        nb = v.shape[1] // block
        slow_i = v[:, :nb * block].reshape(v.shape[0], nb, block, *v.shape[2:]).mean(2).std((0, 1, 3), unbiased=False)
        slow_i = slow_i.numpy()
        fast_i = np.sqrt(np.clip(s_i ** 2 - slow_i ** 2, 0.0, None))
        sigma.append(float(s_i.mean()))
        # the standard error of that mean over the layer's neurons (channels): how far one weight
        # draw's mean sigma_i may lie from the target its distribution is set for
        sigma_se.append(float(s_i.std(ddof=1) / np.sqrt(s_i.size)) if s_i.size > 1 else None)
        slow_share.append(float(np.mean(slow_i ** 2) / max(np.mean(s_i ** 2), 1e-300)))
        kw = dict(tau_mem=p.tau_mem, tau_syn=p.tau_syn, theta=p.theta)
        # each neuron's rate from its own free-membrane moments, averaged over the layer; a neuron
        # without fluctuations below threshold is silent
        per_neuron.append(float(np.mean([lif_rate(m, s, **kw) if s > 1e-3 or m >= p.theta else 0.0
                                         for m, s in zip(mu_i, s_i)])))
        # the same with the slow part of each neuron's variance as a drifting mean (adiabatic_rate)
        adiabatic.append(float(np.mean([adiabatic_rate(m, f, sl, **kw) if f > 1e-3 or sl > 1e-3 or m >= p.theta
                                        else 0.0 for m, f, sl in zip(mu_i, fast_i, slow_i)])))
        # from the free membrane's local statistics, block by block (theory.local_rate)
        # with each block's rate from the discrete update's stationary state (theory.stationary_rates)
        # instead of the diffusion formula, which runs high at large sigma_u
        flat = u.reshape(*u.shape[:2], -1).numpy()
        local.append(float(local_rate(flat, block=block, dt=dt, **kw).mean()))
        local_exact.append(float(local_rate(flat, block=block, dt=dt, rates="stationary", **kw).mean()))
    return {"assumed_hz": assumed, "measured_hz": measured, "sigma_u": sigma, "sigma_u_se": sigma_se, "predicted_target_hz": target,
            "predicted_per_neuron_hz": per_neuron, "predicted_adiabatic_hz": adiabatic,
            "predicted_local_hz": local, "predicted_local_stationary_hz": local_exact, "slow_share": slow_share,
            "init_s": init_s, "batch": int(dense.shape[0])}


#: the block (s) whose means count as the slow part of a membrane's variance (2.5 tau_mem)
BLOCK_S = 0.05


def main() -> None:
    from fluctinit.training import load_experiment
    from fluctinit.training.data import load_data
    from fluctinit.training.schema import DATA_SHAPES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--data-root", default="data")
    p.add_argument("--sigma-u", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", choices=("shd", "fsdd"), help="run the experiment's network on this data set "
                   "instead (e.g. the paper's SHD architectures on FSDD)")
    p.add_argument("--modes", default="common,predicted,sequential,calibrated")
    p.add_argument("--calibration-batch", type=int, help="the training batch the sequential and calibrated rules "
                   "measure on (default the config's training.batch_size)")
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    a = p.parse_args()
    torch.set_num_threads(2)
    base = load_experiment(a.experiment)
    base["init"]["sigma_u"] = a.sigma_u
    if a.calibration_batch:
        base["training"]["batch_size"] = a.calibration_batch
    if a.dataset and a.dataset != base["data"]["dataset"]:
        base["data"]["dataset"] = a.dataset
        base["network"]["n_out"] = DATA_SHAPES[a.dataset](None)[1]  # its classes
    data = load_data(base, a.data_root)
    out = {}

    def write(modes):
        from fluctinit._io import atomic_write_json

        atomic_write_json(a.json, {"experiment": a.experiment, "dataset": base["data"]["dataset"], "seed": a.seed,
                                   "sigma_u": a.sigma_u, "batch": a.batch,
                                   "calibration_batch": base["training"]["batch_size"], "modes": modes})

    for mode in a.modes.split(","):
        config = copy.deepcopy(base)
        if mode == "calibrated":
            config["init"]["mode"] = mode
        else:
            config["init"]["rates"] = mode
        out[mode] = rates_at_init(config, data, a.seed, a.batch)
        if a.json:  # after every rule: a long run that is stopped keeps the rules done
            write(out)
        print(f"{mode}: done ({out[mode]['init_s']:.0f} s of initialization)", flush=True)
    print(f"{a.experiment} on {base['data']['dataset']}, sigma_u {a.sigma_u:g}, seed {a.seed}, "
          f"measured on {next(iter(out.values()))['batch']} test samples (calibrated on training batches of "
          f"{base['training']['batch_size']})")
    print("per hidden layer and rule: rate assumed / measured / predicted from each neuron's free-membrane moments"
          " (lif_rate, averaged) / the same with the slow variance as a drifting mean (adiabatic_rate) / from the"
          " free membrane's 50 ms blocks (local_rate), with each block's rate from stationary_rates (Hz) / mean free-membrane sigma_i / slow share of the variance")
    print("lif_stationary's rate at the target: " + ", ".join(f"{v:.2f}" for v in next(iter(out.values()))["predicted_target_hz"])
          + " Hz;  init time: " + ", ".join(f"{m} {r['init_s']:.1f} s" for m, r in out.items()))
    print("layer" + "".join(f"  {m:>56}" for m in out))

    def num(v, fmt):
        return "  -  " if v is None else format(v, fmt)

    def cell(r, k):
        return "/".join([f"{r['assumed_hz'][k]:6.2f}", f"{r['measured_hz'][k]:6.2f}",
                         num(r["predicted_per_neuron_hz"][k], "6.2f"), num(r["predicted_adiabatic_hz"][k], "6.2f"),
                         num(r["predicted_local_hz"][k], "6.2f"), num(r["predicted_local_stationary_hz"][k], "6.2f"),
                         num(r["sigma_u"][k], "5.2f"), num(r["slow_share"][k], "4.2f")])

    for k in range(len(out[next(iter(out))]["measured_hz"])):
        print(f"{k + 1:5d}" + "".join(f"  {cell(r, k):>56}" for r in out.values()))


if __name__ == "__main__":
    main()
