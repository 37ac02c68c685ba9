"""Per-layer firing rates and free-membrane sigma_u at initialization: the paper's common rate
against the predicted (``init.rates = "predicted"``) and layer-sequential (``"sequential"``)
rates and the per-layer calibrated kernels (``init.mode = "calibrated"``), on a held-out batch.

    python benchmarks/rates_through_depth.py fsdd-conv7 --data-root data [--sigma-u 1] [--batch 100] [--seed 0]

Prints, per hidden layer, the rate each layer was initialized for, its measured population rate
(Hz) at initialization and, for feed-forward layers, the mean over its neurons of the free
membrane's pooled sigma_i given its actual inputs (exact: w'Cw of the layer's filtered inputs,
fluctinit.validation.layer_input_statistics); ``--json`` for one object.  No training.
"""

from __future__ import annotations

import argparse
import copy
import json

import torch


def rates_at_init(config: dict, data, seed: int, batch: int) -> dict:
    from fluctinit.training import build_model, initialize_model, input_rate

    gen = torch.Generator().manual_seed(seed)
    model = build_model(config, generator=gen)
    nu = input_rate(config, model, data)
    assumed = initialize_model(model, config, float(nu), gen, data)
    x, _ = next(iter(data.train.batches(batch, True, torch.Generator().manual_seed(1))))  # another batch than the calibration's
    with torch.no_grad():
        out = model(x)
    dt = config["data"]["dt"]
    measured = [float(s.float().mean()) / dt for s in out.outputs[:-1]]
    from fluctinit.training import layer_statistics

    net = model.network
    inputs = [x.reshape(*x.shape[:2], *net.input_shape)] + list(out.outputs[:-2])
    sigma = []
    for layer, inp in zip(net.hidden, inputs):
        if getattr(layer, "rec_weight", None) is not None or not hasattr(layer, "weight"):
            sigma.append(None)
            continue
        _, s = layer_statistics(layer, inp, dt, readout=False).moments(layer.weight.detach().double().flatten(1).numpy())
        sigma.append(float(s.mean()))
    return {"assumed_hz": assumed, "measured_hz": measured, "sigma_u": sigma}


def main() -> None:
    from fluctinit.training import load_experiment
    from fluctinit.training.data import load_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--data-root", default="data")
    p.add_argument("--sigma-u", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(2)
    base = load_experiment(a.experiment)
    base["init"]["sigma_u"] = a.sigma_u
    data = load_data(base, a.data_root)
    out = {}
    for mode in ("common", "predicted", "sequential", "calibrated"):
        config = copy.deepcopy(base)
        if mode == "calibrated":
            config["init"]["mode"] = mode
        else:
            config["init"]["rates"] = mode
        out[mode] = rates_at_init(config, data, a.seed, a.batch)
    if a.json:
        print(json.dumps(out))
        return
    print(f"{a.experiment}, sigma_u {a.sigma_u:g}, seed {a.seed}: rate at initialization per hidden layer (Hz)")
    print("per hidden layer: rate assumed (Hz) / rate measured (Hz) / mean free-membrane sigma_i")
    print("layer" + "".join(f"  {m:>24}" for m in out))

    def cell(r, k):
        sig = r["sigma_u"][k]
        return f"{r['assumed_hz'][k]:7.2f}/{r['measured_hz'][k]:7.2f}/" + ("   -  " if sig is None else f"{sig:6.3f}")

    for k in range(len(out["common"]["measured_hz"])):
        print(f"{k + 1:5d}" + "".join(f"  {cell(r, k):>24}" for r in out.values()))


if __name__ == "__main__":
    main()
