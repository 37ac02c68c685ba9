"""Named training experiments: one JSON config per experiment (paper tables 4-6).

Each file in ``training/experiments/*.json`` is a complete, copyable description of one
experiment: data set, architecture, initialization and training hyper-parameters.  A user can
copy one, edit it and pass its path wherever a name is accepted
(``fluctinit train path/to/my.json``).

Schema (all times in seconds, rates in Hz; enforced by :mod:`fluctinit.training.schema` with
the ranges of :data:`SECTIONS`: no other key is accepted, and a key of one data set or network
kind is an error on another)::

    {
      "name": file stem ([A-Za-z0-9_.-], not "." or ".."), "description": str,
      "paper": {"table", "figure", "parameters", "test_accuracy", "test_accuracy_kaiming",
                "train_accuracy": str | null},       # where the numbers come from
      "data": {"dataset": "randman" | "shd" | "fsdd" | "cifar10" | "dvs_gesture",
               "dt": 0.002, "duration": T (at least one step), then per data set:
               randman: "seed", "n_units", "n_classes", "samples_per_class",
                        "split": [train, valid, test] per class (summing to samples_per_class),
                        "spike_window" (<= duration), "frequencies": "reference" | "printed",
                        "spectrum": "plus_one" | "power", "zero_constant": bool,
                        "split_mode": "stratified" | "pooled" (RandmanConfig defaults);
               shd, fsdd, cifar10: "validation_fraction", "split_seed";
               dvs_gesture: those and "drop_probability", "size" (a divisor of 128)},
      "network": {"kind": "dense" | "conv1d" | "conv2d",
                  "n_in": int | [h, w] (the data set's input), "n_out": its classes,
                  "hidden": [int, ...], "recurrent": bool, "dale": bool, "skip": bool,
                  "tau_mem", "tau_syn", "tau_out", "tau_syn_out", "theta",
                  conv: "in_channels", "kernel_size", "stride" (int or one per layer),
                        "padding", "rec_kernel_size" (odd), "pool_every": 0 | 2;
                  dale: "n_inh" (int or one per layer), "recurrent" (required),
                        "tau_mem_inh", "tau_syn_inh", conv: "rec_kernel_size_inh";
                  cifar10 (conv2d, required): "encoder": {"fan_out": 5, "tau_mem", "tau_syn", "theta"}},
      "init": {"method": "fluctuation" | "kaiming" | "normal" (the last two not with Dale's law),
               "sigma_u", "mu_u", "alpha", "nu": Hz | "measured" (not for DVS-Gesture),
               normal (required): "mu_w", "sigma_w" (hidden weights N(mu_w, sigma_w**2))},
      "training": {"epochs", "batch_size", "optimizer": "smorms3" | "adam" | "sgd", "lr",
                   "surrogate": "superspike" | "rescaled", "beta",
                   "lambda_upper", "rate_upper", "lambda_lower", "v_lower",
                   "homeostasis": "off" | "ongoing" | "priming", "priming_epochs"},
      "source": str                          # set by load_experiment
    }

Required: ``name``, ``data.dataset``/``dt``/``duration``, ``network.kind``/``n_in``/``n_out``/
``hidden``/``tau_mem``/``tau_syn``/``tau_out`` (conv: ``kernel_size``, ``stride``; Dale:
``n_inh``, ``recurrent``), ``init.method``/``nu`` and every ``training`` key but ``surrogate``
and ``beta``; the others default as training/model.py and training/data.py read them.

Choices where the paper is silent (ours, not the paper's):

* learning rate (SMORMS3 ``eta``): 5e-3 for the one-hidden-layer networks (Randman, SHD), 2e-3
  for all CSNNs;
* ``lambda_upper = 0.01`` everywhere ("weak" regularization; ``v_upper = 10 Hz * T``, the
  paper's ``T_data/100``); ``lambda_lower = 1.0`` (``v_lower = 1``) where homeostasis is on;
  5 epochs of homeostatic priming (``shd-conv3-priming``);
* validation splits: 10 % of the training set for SHD (the paper), CIFAR-10 and DVS-Gesture
  (the paper does not say; table 2's 54 000 CIFAR-10 "training samples" is unexplained);
  the DVS-Gesture validation/test data are cropped from the gesture start (random 1 s crops
  for training only), events are dropped with p = 0.5 in every split (preprocessing);
* readout synaptic time constant = the hidden ``tau_syn`` (10 ms); ``tau_out = T_data``;
* the Randman data seed is fixed (``data.seed = 1``) for every run, as the paper prescribes;
  ``--seed`` changes initialization and data order only;
* ``init.nu``: the data set rate of table 2 (5, 15.8, 9.2 Hz); CIFAR-10 uses ``"measured"``:
  the encoder's mean rate at initialization on training images (the paper's procedure; it
  measured 14.3 Hz); the FSDD configs (``fsdd-*``: FSDD through SHD's cochlear model, not
  SHD, and not in the paper) the data set's own mean rate per input channel;
* Dale's-law networks have no Kaiming variant (signed weights would break the sign
  constraint); ``--init kaiming`` on them stops with a ParameterError.

Architectures against the parameter counts of tables 5-6 (:func:`parameter_count`, checked in
tests/test_train_experiments.py; biases: none; the CIFAR-10 encoder's 30 parameters are not
counted, as the table does not count them):

* CIFAR-10 (2 and 4 layers) and DVS-Gesture (6 and 8 layers) match exactly (95 456, 109 792,
  308 800, 586 816) -- but only with padding 1 ("same" for 3x3 kernels); the table's
  "padding 2" would grow every map by 2 pixels and cannot give these counts.  We use 1.
* SHD 7 and 10 layers match exactly (ff 99 952 / 157 520, rec 208 752 / 327 760).
* SHD 3 layers: the recurrent part matches (rec - ff = 26 880 = sum c^2 * 5) but the
  feed-forward count does not: the printed kernels/strides give 7 output positions
  (readout 64*7*20), ours 27 216 vs the table's 24 656, which needs 5 positions
  (64*5*20 = 6 400 = 2 560 fewer).  No stride/padding combination consistent with the other
  printed values gives 5; we keep the printed architecture.
* SHD 1 layer: 16 channels, kernel 21, stride 10, padding 2 give 336 + 16*69*20 = 22 416
  weights; the table prints 24 858 (ff) and 52 734 (rec), whose difference 27 876 is not a
  recurrent kernel count (16*16*5 = 1 280) either.  We could not reconstruct it.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fluctinit.errors import Integer, Interval, OneOf, ParameterError

__all__ = [
    "DATASETS",
    "list_experiments",
    "load_experiment",
    "validate_experiment",
    "parameter_count",
    "layer_shapes",
    "required_files",
    "check_data_files",
    "data_files_present",
    "DATA_FILES",
    "DATA_SOURCES",
]


DATASETS = ("randman", "shd", "fsdd", "cifar10", "dvs_gesture")
#: Data sets whose files store spike times as floats (SHD's layout): the policy for non-finite
#: times (``strict``) applies to them alone.
SPIKE_TIME_DATA = ("shd", "fsdd")
KINDS = ("dense", "conv1d", "conv2d")
_POS = Interval(0.0, None, "neither")


@dataclass(frozen=True)
class OddInteger:
    """An odd integer >= ``low`` (the recurrent kernels keep their map size with 'same' padding)."""

    low: int = 1

    def contains(self, x: Any) -> bool:
        return Integer(self.low).contains(x) and x % 2 == 1

    def describe(self) -> str:
        return f"an odd integer >= {self.low} (same padding)"

    def sample_invalid(self) -> list[Any]:
        return [1.5, self.low - 1 if self.low % 2 else self.low - 2, self.low + 1 if self.low % 2 else self.low]


#: Constraint tables per section (data, so tests can push every field out of range).
DATA_CONSTRAINTS = {
    "dataset": OneOf(DATASETS),
    "dt": Interval(0.0, 0.1, "right"),
    "duration": _POS,
    # SHD, FSDD, CIFAR-10, DVS-Gesture: the seeded validation split
    "validation_fraction": Interval(0.0, 1.0, "neither"),
    "split_seed": Integer(0),
    # DVS-Gesture: event dropping and frame size (the 128-pixel sensor binned by 128 // size)
    "drop_probability": Interval(0.0, 1.0, "both"),
    "size": OneOf((1, 2, 4, 8, 16, 32, 64, 128)),
    # Randman: the data set's seed and sizes, and the generator options, fields of
    # fluctinit.datasets.RandmanConfig (not imported here: that module imports torch);
    # "split_mode" is RandmanConfig.split ("split" holds the per-class split sizes)
    "seed": Integer(0),
    "n_units": Integer(1),
    "n_classes": Integer(2),
    "samples_per_class": Integer(1),
    "spike_window": _POS,
    "frequencies": OneOf(("reference", "printed")),
    "spectrum": OneOf(("plus_one", "power")),
    "zero_constant": OneOf((False, True)),
    "split_mode": OneOf(("stratified", "pooled")),
}
NETWORK_CONSTRAINTS = {
    "kind": OneOf(KINDS),
    "n_out": Integer(2),
    "recurrent": OneOf((False, True)),
    "dale": OneOf((False, True)),
    "skip": OneOf((False, True)),
    "tau_mem": _POS,
    "tau_syn": _POS,
    "tau_out": _POS,
    "tau_syn_out": _POS,
    "theta": _POS,
    "tau_mem_inh": _POS,
    "tau_syn_inh": _POS,
    # convolutional networks
    "in_channels": Integer(1),
    "padding": Integer(0),
    "rec_kernel_size": OddInteger(1),
    "rec_kernel_size_inh": OddInteger(1),
    # the network pools 2x2 after every second layer or not at all (sim.networks.Network)
    "pool_every": OneOf((0, 2)),
}
#: ``network.encoder``, the CIFAR-10 sensory encoder (fluctinit.sim.encoding.CONSTRAINTS)
ENCODER_CONSTRAINTS = {"fan_out": Integer(1), "tau_mem": _POS, "tau_syn": _POS, "theta": _POS}
# membrane targets the float32 simulation keeps (U**2 summed over a batch below 3.4e38; the
# same bound as validation's, fluctinit.validation.CONSTRAINTS["sigma_u"])
_TARGET = 1e12
INIT_CONSTRAINTS = {
    "method": OneOf(("fluctuation", "kaiming", "normal")),
    "sigma_u": Interval(0.0, _TARGET, "right"),
    # method "normal": hidden weights N(mu_w, sigma_w**2) as given (figure 3c's parameter search)
    "mu_w": Interval(-_TARGET, _TARGET, "both"),
    "sigma_w": Interval(0.0, _TARGET, "both"),
    "mu_u": Interval(-_TARGET, _TARGET, "both"),
    "alpha": Interval(0.0, 1.0, "right"),
    # the presynaptic rate of each layer: the data set's everywhere (the paper); each hidden
    # layer's rate predicted from its target with reset (fluctinit.training.predicted_rates,
    # theory.lif_stationary); or each hidden layer's measured rate for the next (layer-sequential
    # calibration, fluctinit.training.sequential_rates_)
    "rates": OneOf(("common", "predicted", "sequential")),
    # the kernel integrals: the paper's (discrete, continuous), or each layer's from its actual
    # inputs on a training batch (fluctinit.training.calibrated_kernels_)
    "mode": OneOf(("discrete", "continuous", "calibrated")),
}
TRAINING_CONSTRAINTS = {
    "epochs": Integer(0),
    "batch_size": Integer(1),
    "optimizer": OneOf(("smorms3", "adam", "sgd")),
    "lr": _POS,
    "surrogate": OneOf(("superspike", "rescaled")),
    "beta": _POS,
    "lambda_upper": Interval(0.0, None, "left"),
    "rate_upper": Interval(0.0, None, "left"),
    "lambda_lower": Interval(0.0, None, "left"),
    "v_lower": Interval(0.0, None, "left"),
    "homeostasis": OneOf(("off", "ongoing", "priming")),
    "priming_epochs": Integer(0),
}
SECTIONS = {
    "data": DATA_CONSTRAINTS,
    "network": NETWORK_CONSTRAINTS,
    "init": INIT_CONSTRAINTS,
    "training": TRAINING_CONSTRAINTS,
}



def _experiment_dir():
    return resources.files("fluctinit.training") / "experiments"


def list_experiments() -> list[str]:
    """Names of the shipped experiments (sorted)."""
    return sorted(
        p.name[: -len(".json")] for p in _experiment_dir().iterdir() if p.name.endswith(".json")
    )


def load_experiment(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate an experiment by name (shipped) or by path to a JSON file.

    Args:
        name_or_path: a name from :func:`list_experiments`, or a path ending in ``.json``
            (or any existing file).

    Returns:
        The validated config (a fresh dict; ``config["source"]`` records where it came from).

    Raises:
        ParameterError: unknown name, a file that is not JSON (or repeats a key), or any problem
            :func:`validate_experiment` finds (naming the key path).
        FileNotFoundError: a path that does not exist.
    """
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".json") or path.exists():
        if path.is_dir():
            raise ParameterError(f"`experiment` must be a JSON file; got {text!r} (a folder)", ["experiment"], [text])
        if not path.is_file():
            raise FileNotFoundError(f"experiment file {text!r} does not exist")
        try:
            config = json.loads(path.read_bytes(), object_pairs_hook=_object_once)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ParameterError(
                f"`experiment` must be a valid JSON file; got {text!r} ({err})",
                ["experiment"],
                [text],
            ) from None
        source = str(path.resolve())
    else:
        names = list_experiments()
        if text not in names:
            raise ParameterError(
                f"`experiment` must be one of {', '.join(names)} or a path to a .json file; "
                f"got {text!r}",
                ["experiment"],
                [text],
            )
        config = json.loads((_experiment_dir() / f"{text}.json").read_text(), object_pairs_hook=_object_once)
        source = f"builtin:{text}"
    config = validate_experiment(config)
    config["source"] = source
    return config


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (json keeps the last of repeated keys silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ParameterError(
                f"`experiment` must give each key once per object; got {key!r} twice", ["experiment"], [key]
            )
        out[key] = value
    return out


def _listify(value, n: int) -> list:
    return list(value) if isinstance(value, list) else [value] * n


def validate_experiment(config: dict[str, Any]) -> dict[str, Any]:
    """Check a whole experiment config against its schema (:mod:`fluctinit.training.schema`);
    return a normalized deep copy.

    Checked before any data are generated: every key known (at every level), JSON types
    (``"false"`` is not a bool), the ranges of :data:`SECTIONS`, and the rules across fields
    (one entry per hidden layer, ``network.n_in``/``n_out`` fitting the data set, ``name`` a safe
    file stem).  Normalization: per-layer conv settings (``kernel_size``, ``stride``) and Dale's
    ``n_inh`` become lists of length ``len(hidden)``; nothing else changes.

    Raises:
        ParameterError: one, for the first problem: "`section.key` must be ...; got ...".
    """
    from .schema import check_experiment  # the schema is built from the tables above

    if not isinstance(config, dict):
        raise ParameterError(
            f"`experiment` must be a JSON object; got {type(config).__name__}",
            ["experiment"],
            [config],
        )
    check_experiment(config)
    config = copy.deepcopy(config)
    net = config["network"]
    n = len(net["hidden"])
    for key in ("kernel_size", "stride") if net["kind"] != "dense" else ():
        net[key] = _listify(net[key], n)
    if net.get("dale"):
        net["n_inh"] = _listify(net["n_inh"], n)
    return config



def n_steps(config: dict[str, Any]) -> int:
    """Number of time steps ``T_data / dt`` (rounded)."""
    return int(round(config["data"]["duration"] / config["data"]["dt"]))


def layer_shapes(network: dict[str, Any]) -> list[tuple[int, ...]]:
    """Neuron shape of every hidden layer (after its own pooling), e.g. ``(channels, positions)``.

    1-D conv output length: ``floor((n + 2 p - k)/s) + 1``; 2-D likewise per axis; with
    ``pool_every = 2`` a 2x2 max pooling halves the spatial size after layers 2, 4, ....
    """
    kind = network["kind"]
    if kind == "dense":
        return [(h,) for h in network["hidden"]]
    p = network.get("padding", 0)
    size = [network["n_in"]] if kind == "conv1d" else list(network["n_in"])
    shapes = []
    for i, (c, k, s) in enumerate(zip(network["hidden"], network["kernel_size"], network["stride"])):
        size = [(x + 2 * p - k) // s + 1 for x in size]
        if network.get("pool_every") and (i + 1) % network["pool_every"] == 0:
            size = [x // 2 for x in size]
        shapes.append((c, *size))
    return shapes


def parameter_count(network: dict[str, Any], recurrent: bool | None = None) -> int:
    """Number of trainable weights (no biases; the paper's nets have none) of an architecture.

    Counts the feed-forward weights (dense ``n_in*n_out``; conv ``c_in*c_out*prod(kernel)``),
    recurrent weights when ``recurrent`` (dense ``n*n``; conv ``c*c*rec_kernel``), for Dale
    layers the six matrices of eqs. 14-19 (E->E, E->I kernels ``rec_kernel_size``, I->E, I->I
    kernels ``rec_kernel_size_inh``; the readout sees the E population only), the readout
    (``prod(last layer shape)*n_out``) and skip connections.  The CIFAR-10 encoder (30
    parameters) is not counted, as in the paper's table 6.

    Args:
        network: the ``network`` section of a validated config.
        recurrent: override ``network["recurrent"]`` (table 5 lists both counts).
    """
    rec = network.get("recurrent", False) if recurrent is None else recurrent
    shapes = layer_shapes(network)
    kind = network["kind"]
    total = 0
    dale = network.get("dale", False)
    n_inh = network.get("n_inh") or [0] * len(network["hidden"])
    if kind == "dense":
        prev = network["n_in"]
        for h, hi in zip(network["hidden"], n_inh):
            if dale:  # FE, FI, IE, II always; RE, RI with excitatory recurrence (eqs. 14-19)
                total += prev * (h + hi) + hi * (h + hi) + (h * (h + hi) if rec else 0)
            else:
                total += prev * h + (h * h if rec else 0)
            prev = h
    else:
        dims = 1 if kind == "conv1d" else 2
        c_in = network.get("in_channels", 1)
        if network.get("encoder"):
            c_in *= network["encoder"]["fan_out"]
        rk = network.get("rec_kernel_size", 5) ** dims
        ik = network.get("rec_kernel_size_inh", 3) ** dims
        for c, k, ci in zip(network["hidden"], network["kernel_size"], n_inh):
            if dale:
                total += c_in * (c + ci) * k**dims + ci * (c + ci) * ik + (c * (c + ci) * rk if rec else 0)
            else:
                total += c_in * c * k**dims + (c * c * rk if rec else 0)
            c_in = c
    readout_from = shapes if network.get("skip") else shapes[-1:]
    total += sum(math.prod(s) * network["n_out"] for s in readout_from)
    return total


#: Files each data set needs under --data-root: alternatives (any complete one will do).
DATA_FILES = {
    "randman": [[]],
    "shd": [["shd_train.h5", "shd_test.h5"]],
    "fsdd": [["fsdd_train.h5", "fsdd_test.h5"]],  # fluctinit.datasets.FSDD_FILES
    "cifar10": [
        ["cifar-10-python.tar.gz"],
        [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + ["cifar-10-batches-py/test_batch"],
    ],
    "dvs_gesture": [
        ["DvsGesture/trials_to_train.txt", "DvsGesture/trials_to_test.txt"],
        ["trials_to_train.txt", "trials_to_test.txt"],
    ],
}
#: where to get each data set's files (the one line of a missing-data error)
DATA_SOURCES = {
    "shd": "get shd_train.h5.gz and shd_test.h5.gz from https://zenkelab.org/datasets/ and gunzip "
    "them, or run `fluctinit data shd --root DIR --download`",
    "fsdd": "make them from FSDD's recordings with `fluctinit data fsdd --audio DIR --out DIR` (FSDD "
    "through SHD's cochlear model)",
    "cifar10": "get the python version from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "dvs_gesture": "extract DvsGesture.tar.gz from https://research.ibm.com/interactive/dvsgesture/ "
    "there (it holds the trial lists, userXX_lighting.aedat and _labels.csv files)",
}


def data_files_present(dataset: str, root: str | os.PathLike) -> bool:
    """Whether one complete alternative of :data:`DATA_FILES` for ``dataset`` is under ``root``
    (presence only; the loaders validate the contents)."""
    return any(all((Path(root) / f).exists() for f in files) for files in DATA_FILES[dataset])


def required_files(config: dict[str, Any]) -> list[str]:
    """Files the experiment's data set needs under the data root (first alternative; none for Randman)."""
    return list(DATA_FILES[config["data"]["dataset"]][0])


def check_data_files(config: dict[str, Any], root: str | os.PathLike) -> None:
    """Raise FileNotFoundError -- one line saying which files to put where -- if data are missing.

    Only presence is checked here (fast, before anything is built); the loaders validate
    the contents.
    """
    ds = config["data"]["dataset"]
    if data_files_present(ds, root):
        return
    missing = [f for f in DATA_FILES[ds][0] if not (Path(root) / f).exists()]
    raise FileNotFoundError(
        f"experiment {config['name']!r} needs {', '.join(missing)} in {os.path.abspath(root)}: "
        f"{DATA_SOURCES[ds]} (or pass --data-root DIR)"
    )
