"""How far one weight draw's first-layer sigma_u lies from the target, over weight seeds: the
first hidden layer of an experiment's network alone, calibrated (``init.mode = "calibrated"``),
on the first training batch it is calibrated on.

    python benchmarks/calibration_scatter.py shd-conv7-rec --dataset fsdd --data-root data [--seeds 8] [--batch 50] [--feedforward]

Prints, per seed, the free membrane's std of each of the layer's neurons (channels) and their
mean, then the mean over seeds with its standard error and the sd from draw to draw.  The
calibration sets the weights' distribution; this measures what that leaves to one draw.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    from fluctinit.sim.events import batch_major
    from fluctinit.training import build_model, initialize_model, input_rate, layer_free_membrane, load_experiment
    from fluctinit.training.data import load_data
    from fluctinit.training.schema import DATA_SHAPES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--data-root", default="data")
    p.add_argument("--dataset", choices=("shd", "fsdd"))
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--feedforward", action="store_true", help="the layer without its recurrent weights")
    a = p.parse_args()
    torch.set_num_threads(2)
    cfg = load_experiment(a.experiment)
    if a.dataset and a.dataset != cfg["data"]["dataset"]:
        cfg["data"]["dataset"] = a.dataset
        cfg["network"]["n_out"] = DATA_SHAPES[a.dataset](None)[1]  # its classes
    for key in ("hidden", "kernel_size", "stride"):
        if isinstance(cfg["network"].get(key), list):
            cfg["network"][key] = cfg["network"][key][:1]
    if a.feedforward:
        cfg["network"]["recurrent"] = False
    cfg["init"]["mode"] = "calibrated"
    cfg["training"]["batch_size"] = a.batch
    data = load_data(cfg, a.data_root)
    x, _ = next(iter(data.train.batches(a.batch, True, torch.Generator().manual_seed(0))))  # the calibration's
    dense = batch_major(x)
    means = []
    for seed in range(a.seeds):
        gen = torch.Generator().manual_seed(seed)
        model = build_model(cfg, generator=gen)
        initialize_model(model, cfg, float(input_rate(cfg, model, data)), gen, data)
        with torch.no_grad():
            out = model(x)
        layer = model.network.hidden[0]
        own = out.outputs[0] if getattr(layer, "rec_weight", None) is not None else None
        u = layer_free_membrane(layer, dense.reshape(*dense.shape[:2], *model.network.input_shape), own).double()
        s = u.reshape(*u.shape[:3], -1).std((0, 1, 3), unbiased=False).numpy()
        means.append(float(s.mean()))
        print(f"seed {seed}: mean sigma_u {s.mean():.3f}; its neurons {np.array2string(s, precision=2)}", flush=True)
    m = np.array(means)
    print(f"{a.experiment}{' (feed-forward)' if a.feedforward else ''}, first layer, {a.seeds} seeds: mean {m.mean():.3f}, "
          f"standard error {m.std(ddof=1) / np.sqrt(m.size):.3f}, sd from draw to draw {m.std(ddof=1):.3f}")


if __name__ == "__main__":
    main()
