"""Schemas of the JSON configs (pydantic v2): every key known, every type strict, every range checked.

An experiment config (``training/experiments/*.json``, :func:`check_experiment`) is checked as a
whole before anything runs: unknown or misspelt keys are errors at every level
(``extra="forbid"``), a bool must be a JSON bool and an integer a JSON integer (a float field
takes an integer), ranges are the constraint tables of :mod:`fluctinit.training.experiments`
(:mod:`fluctinit.errors` semantics:
finite numbers, integers that are not bools), and cross-field rules tie the sections together
(one entry per hidden layer, ``network.n_in`` and ``network.n_out`` fit the data set, options of
one data set or network kind are errors on another).  The ``data`` section has one model per
data set and the ``network`` section one per kind (tagged by ``data.dataset`` and
``network.kind``).

Every failure becomes one :class:`~fluctinit.errors.ParameterError` naming the key path
(``training.lr``, ``network.hidden[1]``, ``data.frequencies``), what is allowed and the value
(:func:`validate`): "`{path}` must be {constraint}; got {value!r}".  The building blocks
(:class:`StrictModel`, :func:`constrained`, :func:`checked`, :func:`config_error`,
:func:`validate`) serve the figure configs too.

This module imports no torch: the data-set facts it needs (SHD's 700 units, ...) are kept in
:data:`DATA_SHAPES`, checked against :mod:`fluctinit.datasets` by tests/test_config_schema.py.
"""

import difflib
import math
import re
import reprlib
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

from fluctinit.errors import Integer, Interval, OneOf, ParameterError

from .experiments import (
    DATA_CONSTRAINTS,
    ENCODER_CONSTRAINTS,
    INIT_CONSTRAINTS,
    NETWORK_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    OddInteger,
)

__all__ = [
    "DATA_SHAPES", "DATA_KINDS", "NAME_PATTERN", "Experiment", "check_experiment",
    "StrictModel", "checked", "constrained", "config_error", "validate", "show",
]

_POS = Interval(0.0, None, "neither")

#: Input of one time step and number of classes of each data set (fluctinit.datasets: SHD 700
#: channels and 20 classes; FSDD through SHD's cochlear model 700 channels and 10 digits; CIFAR-10 3x32x32 images, 10 classes; DVS-Gesture 2 polarities of
#: size x size pixels, 11 classes; Randman ``n_units`` units and ``n_classes`` classes).
DATA_SHAPES: dict[str, Callable[[Any], tuple[tuple[int, ...], int]]] = {
    "randman": lambda d: ((d.n_units or 20,), d.n_classes or 10),
    "shd": lambda d: ((700,), 20),
    "fsdd": lambda d: ((700,), 10),
    "cifar10": lambda d: ((3, 32, 32), 10),
    "dvs_gesture": lambda d: ((2, d.size or 32, d.size or 32), 11),
}
#: Where ``network.n_in`` comes from, by (data set, dense network), where it is a config key.
_N_IN_SOURCE = {("randman", True): "= `data.n_units`", ("randman", False): "= `data.n_units`",
                ("dvs_gesture", True): "= 2 x `data.size`**2", ("dvs_gesture", False): "= [`data.size`, `data.size`]"}
#: Network kinds each data set can feed (CIFAR-10 needs the encoder, which only conv2d has).
DATA_KINDS = {"randman": ("dense", "conv1d"), "shd": ("dense", "conv1d"), "fsdd": ("dense", "conv1d"),
              "cifar10": ("conv2d",), "dvs_gesture": ("dense", "conv2d")}

#: ``name``: a file-name stem (results are written to ``<out>/<name>_...``)
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
NAME_RULE = ("a file-name stem of 1 to 128 letters, digits, '-', '_' or '.' (no path separators; "
             "not '.' or '..')")


# ----------------------------------------------------------------------------- building blocks
class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, types are strict (JSON types)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_MISSING = object()


def config_error(key: str, value: Any, constraint: str) -> PydanticCustomError:
    """The error of a cross-field rule: ``key`` (``"split"``, ``"[2]"``, ``"network.n_in"``) is
    relative to where the raising validator sits; :func:`validate` prefixes the location."""
    return PydanticCustomError("config", "must be {constraint}", {"key": key, "value": value, "constraint": constraint})


def checked(base: Any, description: str, ok: Callable[[Any], bool] | None = None) -> Any:
    """``base`` validated by pydantic (strict), then ``ok``; any failure reads "must be
    ``description``".  Errors of nested checked values (list items) keep their own place."""

    def validate_(value, handler):
        try:
            out = handler(value)
        except ValidationError as err:
            if any(e["type"] in ("constraint", "config") for e in err.errors()):
                raise
            raise PydanticCustomError("constraint", "must be {constraint}", {"constraint": description}) from None
        if ok is not None and not ok(out):
            raise PydanticCustomError("constraint", "must be {constraint}", {"constraint": description})
        return out

    return Annotated[base, WrapValidator(validate_), Field(description=description)]


def constrained(c: Any) -> Any:
    """The field type of a :mod:`fluctinit.errors` constraint (Interval, Integer, OneOf, OddInteger)."""
    if isinstance(c, Interval):
        return checked(float, c.describe(), c.contains)
    if isinstance(c, (Integer, OddInteger)):
        return checked(int, c.describe(), c.contains)
    if isinstance(c, OneOf):
        if all(isinstance(o, bool) for o in c.options):
            return checked(bool, "true or false (a JSON bool)")
        if all(isinstance(o, str) for o in c.options):
            return checked(Literal[c.options], c.describe())
        return checked(int, c.describe(), c.contains)
    raise TypeError(f"not a constraint: {c!r}")


def per_layer(c: Any) -> Any:
    """One value for every hidden layer, or a list of them (items named ``key[i]``)."""
    desc = f"{c.describe()}, or a list of them with one entry per hidden layer"

    def validate_(value, handler):
        if isinstance(value, list):
            for i, x in enumerate(value):
                if not c.contains(x):
                    raise config_error(f"[{i}]", x, c.describe())
            return list(value)
        if not c.contains(value):
            raise PydanticCustomError("constraint", "must be {constraint}", {"constraint": desc})
        return value

    return Annotated[Union[int, list[int]], WrapValidator(validate_), Field(description=desc)]


def int_list(c: Any, description: str, length: int | None = None) -> Any:
    """A list of integers meeting ``c`` (non-empty, or of exactly ``length`` items)."""
    ok = (lambda v: len(v) > 0) if length is None else (lambda v: len(v) == length)
    return checked(list[constrained(c)], description, ok)


# ----------------------------------------------------------------------------- errors
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = 8
_REPR.maxdict = 6


def show(value: Any) -> str:
    """``repr(value)``, shortened to one readable line."""
    return "no value" if value is _MISSING else _REPR.repr(value)


def _segment(key: Any) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_\-]+", str(key)) else f"[{str(key)!r}]"


def _join(path: str, key: str) -> str:
    if not key:
        return path
    if key.startswith("[") or not path:
        return path + key
    return f"{path}.{key}"


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _members(field) -> dict[str, type]:
    """Tag -> model of a field holding a tagged union (``data`` by ``dataset``), else {}."""
    if not field.discriminator or get_origin(field.annotation) is not Union:
        return {}
    out = {}
    for m in get_args(field.annotation):
        if _is_model(m):
            for tag in get_args(m.model_fields[field.discriminator].annotation):
                out[tag] = m
    return out


@dataclass
class _Place:
    path: str
    field: Any = None  # FieldInfo of the last key, if it is a known one
    parent: Any = None  # model holding the last key
    parent_path: str = ""
    scope: str = ""  # ' with `network.kind` = 'dense'' when the parent is a union member


def _locate(model: type, loc: tuple, root: str) -> _Place:
    """Walk a pydantic error location through the models: the key path (union tags dropped)."""
    place = _Place(root, parent=model, parent_path=root)
    cls, i = model, 0
    while i < len(loc):
        el = loc[i]
        i += 1
        if isinstance(el, int):
            place.path += f"[{el}]"
            cls, place.field = None, None
            continue
        place.parent, place.parent_path = cls, place.path
        place.path = _join(place.path, _segment(el))
        place.field = cls.model_fields.get(el) if _is_model(cls) else None
        cls = None
        if place.field is None:
            continue
        members = _members(place.field)
        if members and i < len(loc) and loc[i] in members:
            cls = members[loc[i]]
            place.scope = f" with `{_join(place.path, place.field.discriminator)}` = {loc[i]!r}"
            i += 1
        elif _is_model(place.field.annotation):
            cls, place.scope = place.field.annotation, ""
    return place


def _describe_field(field) -> str:
    if field is None:
        return "a value"
    if field.description:
        return field.description
    if _is_model(field.annotation) or _members(field) or get_origin(field.annotation) is Union:
        return "an object"
    return "a value"


def _unknown_key(err: dict, place: _Place, label: str) -> str:
    key = err["loc"][-1]
    parent = place.parent
    keys = sorted(parent.model_fields) if _is_model(parent) else []
    where = f"`{place.parent_path}`" if place.parent_path else label
    hint = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
    hint = f" (did you mean `{_join(place.parent_path, hint[0])}`?)" if hint else ""
    return (f"`{place.path}` must be one of the known keys of {where}{place.scope}: {', '.join(keys)}{hint}; "
            f"got {show(key)}")


def _message(model: type, err: dict, root: str, label: str) -> tuple[str, str, Any]:
    """(message, key path, value) of one pydantic error."""
    place = _locate(model, err["loc"], root)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input", _MISSING)
    if kind == "config":
        path, value = _join(place.path, ctx["key"]), ctx["value"]
        return f"`{path}` must be {ctx['constraint']}; got {show(value)}", path, None if value is _MISSING else value
    path = place.path or label
    if kind == "constraint":
        what = ctx["constraint"]
    elif kind == "extra_forbidden":
        return _unknown_key(err, place, label), path, value
    elif kind == "missing":
        return f"`{path}` must be given ({_describe_field(place.field)}); got no value", path, None
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = place.field.discriminator
        tags = ", ".join(repr(t) for t in _members(place.field))
        path = _join(path, disc)
        value = value.get(disc, _MISSING) if isinstance(value, dict) else _MISSING
        what = f"one of {tags}" if value is not _MISSING else f"given (one of {tags})"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "a JSON object"
    elif kind == "bool_type":
        what = "true or false (a JSON bool)"
    else:  # a type pydantic checked without our wrapper: its own words
        what = f"{_describe_field(place.field)} ({err['msg']})"
    return f"`{path}` must be {what}; got {show(value)}", path, None if value is _MISSING else value


def validate(model: type, data: Any, *, root: str = "", label: str = "the config") -> BaseModel:
    """``model.model_validate(data)``; any failure raises one ParameterError naming the key path.

    Args:
        root: prefix of every key path (``"config"`` gives ``config.seed``).
        label: how the top level is named in an unknown-key message.

    Raises:
        ParameterError: the first problem, "`{path}` must be {constraint}; got {value!r}", with
            the number of further problems; ``names`` holds the key path.
    """
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        first = errors[0]
        if first["type"] == "missing":  # a misspelt key is both unknown and missing: name the key given
            first = next((e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == first["loc"][:-1]),
                         first)
        message, path, value = _message(model, first, root, label)
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ParameterError(message, [path], [value]) from None


# ----------------------------------------------------------------------------- experiment config
_D, _N, _E, _I, _T = DATA_CONSTRAINTS, NETWORK_CONSTRAINTS, ENCODER_CONSTRAINTS, INIT_CONSTRAINTS, TRAINING_CONSTRAINTS
Name = checked(str, NAME_RULE, lambda s: NAME_PATTERN.fullmatch(s) is not None and s not in (".", ".."))
Text = checked(str, "a string")
_Note = checked(Optional[str], "a string or null")


class Paper(StrictModel):
    """Where the numbers come from (informational): strings, or null where the paper gives none."""

    table: _Note = None
    figure: _Note = None
    parameters: checked(Optional[str], "a string of digits (the printed count) or null",
                        lambda s: s is None or s.isdigit()) = None
    test_accuracy: _Note = None
    test_accuracy_kaiming: _Note = None
    train_accuracy: _Note = None


class _Data(StrictModel):
    dt: constrained(_D["dt"])
    duration: constrained(_D["duration"])

    @model_validator(mode="after")
    def _one_step(self):
        if int(round(self.duration / self.dt)) < 1:
            raise config_error("duration", self.duration, f"at least one time step (`data.dt` = {self.dt:g} s)")
        return self


class RandmanData(_Data):
    dataset: Literal["randman"]
    seed: constrained(_D["seed"]) = None
    n_units: constrained(_D["n_units"]) = None
    n_classes: constrained(_D["n_classes"]) = None
    samples_per_class: constrained(_D["samples_per_class"]) = None
    split: int_list(Integer(0), "a list of 3 integers >= 0 (training, validation and test samples per class)",
                    length=3) = None
    spike_window: constrained(_D["spike_window"]) = None
    frequencies: constrained(_D["frequencies"]) = None
    spectrum: constrained(_D["spectrum"]) = None
    zero_constant: constrained(_D["zero_constant"]) = None
    split_mode: constrained(_D["split_mode"]) = None

    @model_validator(mode="after")
    def _sizes(self):
        per_class = 1000 if self.samples_per_class is None else self.samples_per_class
        split = [800, 100, 100] if self.split is None else self.split
        if sum(split) != per_class:
            if self.split is None:
                raise config_error("samples_per_class", per_class, f"{sum(split)}, the sum of `data.split` "
                                                                   f"({split}, the default)")
            raise config_error("split", split, f"3 numbers summing to `data.samples_per_class` ({per_class})")
        window = 0.1 if self.spike_window is None else self.spike_window
        if window > self.duration:
            if self.spike_window is None:
                raise config_error("duration", self.duration,
                                   f"a finite number >= `data.spike_window` ({window:g} s, the default)")
            raise config_error("spike_window", window,
                               f"a finite number with 0 < x <= `data.duration` ({self.duration:g} s)")
        return self


class ShdData(_Data):
    dataset: Literal["shd"]
    validation_fraction: constrained(_D["validation_fraction"]) = None
    split_seed: constrained(_D["split_seed"]) = None


class FsddData(ShdData):
    """FSDD through SHD's cochlear model (fluctinit.datasets.load_fsdd): SHD's options, not SHD."""

    dataset: Literal["fsdd"]


class Cifar10Data(ShdData):
    dataset: Literal["cifar10"]


class DvsGestureData(ShdData):
    dataset: Literal["dvs_gesture"]
    drop_probability: constrained(_D["drop_probability"]) = None
    size: constrained(_D["size"]) = None


Data = Annotated[Union[RandmanData, ShdData, FsddData, Cifar10Data, DvsGestureData],
                 Field(discriminator="dataset")]


# ----------------------------------------------------------------------------- network
_DALE_ONLY = ("n_inh", "tau_mem_inh", "tau_syn_inh", "rec_kernel_size_inh")


class Encoder(StrictModel):
    """``network.encoder``: the CIFAR-10 sensory encoder (paper section 4.1)."""

    fan_out: constrained(_E["fan_out"])
    tau_mem: constrained(_E["tau_mem"]) = None
    tau_syn: constrained(_E["tau_syn"]) = None
    theta: constrained(_E["theta"]) = None


class _Network(StrictModel):
    n_out: constrained(_N["n_out"])
    hidden: int_list(Integer(1), "a non-empty list of integers >= 1 (neurons or channels per hidden layer)")
    recurrent: constrained(_N["recurrent"]) = None
    dale: constrained(_N["dale"]) = None
    skip: constrained(_N["skip"]) = None
    tau_mem: constrained(_N["tau_mem"])
    tau_syn: constrained(_N["tau_syn"])
    tau_out: constrained(_N["tau_out"])
    tau_syn_out: constrained(_N["tau_syn_out"]) = None
    theta: constrained(_N["theta"]) = None
    n_inh: per_layer(Integer(1)) = None
    tau_mem_inh: constrained(_N["tau_mem_inh"]) = None
    tau_syn_inh: constrained(_N["tau_syn_inh"]) = None

    @model_validator(mode="after")
    def _layers(self):
        if self.dale:
            if self.n_inh is None:
                raise config_error("n_inh", _MISSING, "given for Dale's-law networks (`network.dale` is true): "
                                   "inhibitory neurons or channels per hidden layer")
            if self.recurrent is None:  # the layers' default (recurrent) is not parameter_count's
                raise config_error("recurrent", _MISSING, "given (true or false) for Dale's-law networks")
        else:
            for key in _DALE_ONLY:
                if getattr(self, key, None) is not None:
                    raise config_error(key, getattr(self, key), "absent unless `network.dale` is true")
        n = len(self.hidden)
        for key in ("kernel_size", "stride", "n_inh"):
            v = getattr(self, key, None)
            if isinstance(v, list) and len(v) != n:
                raise config_error(key, v, f"a list with one entry per hidden layer ({n}, as `network.hidden`)")
        return self


class DenseNetwork(_Network):
    kind: Literal["dense"]
    n_in: constrained(Integer(1))


class _ConvNetwork(_Network):
    in_channels: constrained(_N["in_channels"]) = None
    kernel_size: per_layer(Integer(1))
    stride: per_layer(Integer(1))
    padding: constrained(_N["padding"]) = None
    rec_kernel_size: constrained(_N["rec_kernel_size"]) = None
    rec_kernel_size_inh: constrained(_N["rec_kernel_size_inh"]) = None
    pool_every: constrained(_N["pool_every"]) = None

    @model_validator(mode="after")
    def _sizes(self):
        """Every layer keeps at least one position (conv: ``(n + 2p - k) // s + 1``; 2x2 pooling)."""
        n = len(self.hidden)
        ks, ss = (v if isinstance(v, list) else [v] * n for v in (self.kernel_size, self.stride))
        p = self.padding or 0
        size = min(self.n_in) if isinstance(self.n_in, list) else self.n_in
        for i, (k, s) in enumerate(zip(ks, ss)):
            if k > size + 2 * p:
                key = f"kernel_size[{i}]" if isinstance(self.kernel_size, list) else "kernel_size"
                raise config_error(key, k, f"<= {size + 2 * p} (layer {i}'s input size {size} plus twice "
                                           f"`network.padding`)")
            size = (size + 2 * p - k) // s + 1
            if self.pool_every and (i + 1) % self.pool_every == 0:
                if size < 2:
                    raise config_error("pool_every", self.pool_every, f"0 here: layer {i} has a single position "
                                                                      "left to pool")
                size //= 2
        return self


class Conv1dNetwork(_ConvNetwork):
    kind: Literal["conv1d"]
    n_in: constrained(Integer(1))


class Conv2dNetwork(_ConvNetwork):
    kind: Literal["conv2d"]
    n_in: int_list(Integer(1), "a list of 2 integers >= 1 ([height, width])", length=2)
    encoder: Encoder = None


Network = Annotated[Union[DenseNetwork, Conv1dNetwork, Conv2dNetwork], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- init, training
class Init(StrictModel):
    method: constrained(_I["method"])
    sigma_u: constrained(_I["sigma_u"]) = None
    mu_u: constrained(_I["mu_u"]) = None
    alpha: constrained(_I["alpha"]) = None
    nu: checked(Union[Literal["measured"], float], 'a finite number > 0 (Hz) or "measured"',
                lambda v: v == "measured" or _POS.contains(v))
    mu_w: constrained(_I["mu_w"]) = None
    sigma_w: constrained(_I["sigma_w"]) = None
    rates: constrained(_I["rates"]) = None
    mode: constrained(_I["mode"]) = None

    @model_validator(mode="after")
    def _normal(self):
        """``mu_w`` and ``sigma_w`` belong to method "normal", which needs both; ``rates``
        other than "common" to method "fluctuation" (the others use no rate)."""
        if self.mode == "calibrated" and self.method != "fluctuation":
            raise config_error("mode", self.mode, f"'discrete', 'continuous' or absent unless `init.method` is "
                                                  f"'fluctuation' (it is {self.method!r})")
        if self.mode == "calibrated" and self.rates not in (None, "common"):
            raise config_error("rates", self.rates, "absent or 'common' with `init.mode` 'calibrated' (it measures "
                                                    "every layer's inputs, rates included)")
        if self.rates in ("predicted", "sequential") and self.method != "fluctuation":
            raise config_error("rates", self.rates, f"'common' or absent unless `init.method` is 'fluctuation' "
                                                    f"(it is {self.method!r}: its weights use no rate)")
        for key in ("mu_w", "sigma_w"):
            value = getattr(self, key)
            if self.method == "normal" and value is None:
                raise config_error(key, _MISSING, "given with `init.method` 'normal' (hidden weights "
                                                  "N(mu_w, sigma_w**2))")
            if self.method != "normal" and value is not None:
                raise config_error(key, value, f"absent unless `init.method` is 'normal' (it is {self.method!r})")
        return self


class Training(StrictModel):
    optimizer: constrained(_T["optimizer"])
    lr: constrained(_T["lr"])
    surrogate: constrained(_T["surrogate"]) = None
    beta: constrained(_T["beta"]) = None
    lambda_upper: constrained(_T["lambda_upper"])
    rate_upper: constrained(_T["rate_upper"])
    lambda_lower: constrained(_T["lambda_lower"])
    v_lower: constrained(_T["v_lower"])
    homeostasis: constrained(_T["homeostasis"])
    priming_epochs: constrained(_T["priming_epochs"])
    epochs: constrained(_T["epochs"])
    batch_size: constrained(_T["batch_size"])

    @model_validator(mode="after")
    def _homeostasis(self):
        """Homeostasis needs its regularizer switched on, and priming needs priming epochs."""
        if self.homeostasis == "priming" and not self.priming_epochs:
            raise config_error("priming_epochs", self.priming_epochs, "an integer >= 1 when homeostasis is 'priming'")
        if self.homeostasis != "off" and not self.lambda_lower > 0:
            raise config_error("lambda_lower", self.lambda_lower, f"> 0 when homeostasis is {self.homeostasis!r}")
        return self


# ----------------------------------------------------------------------------- the whole config
class Experiment(StrictModel):
    """One experiment config (training/experiments/*.json); ``source`` is set by load_experiment."""

    name: Name
    description: Text = None
    paper: Paper = None
    data: Data
    network: Network
    init: Init
    training: Training
    source: Text = None

    @model_validator(mode="after")
    def _fits_the_data(self):
        """The network takes the data set's input and has one output per class."""
        d, net, ds = self.data, self.network, self.data.dataset
        shape, classes = DATA_SHAPES[ds](d)
        of = f"data set {ds!r}"
        if net.kind not in DATA_KINDS[ds]:
            raise config_error("network.kind", net.kind, f"{' or '.join(map(repr, DATA_KINDS[ds]))} for {of}")
        if ds == "cifar10" and net.encoder is None:
            raise config_error("network.encoder", _MISSING, f"given for {of} (the encoder turns images into spikes)")
        if ds != "cifar10" and getattr(net, "encoder", None) is not None:
            raise config_error("network.encoder", net.encoder.model_dump(exclude_unset=True),
                               f"absent for {of} (the encoder takes images: data set 'cifar10')")
        want = math.prod(shape) if net.kind == "dense" else shape[-1] if net.kind == "conv1d" else list(shape[1:])
        if net.n_in != want:
            src = _N_IN_SOURCE.get((ds, net.kind == "dense"), f"the input of {of}")
            raise config_error("network.n_in", net.n_in, f"{want} ({src})")
        if net.kind != "dense":
            channels = shape[0] if len(shape) == 3 else 1
            if (net.in_channels or 1) != channels:
                given = _MISSING if net.in_channels is None else net.in_channels
                raise config_error("network.in_channels", given, f"{channels} for {of} (default 1)")
        if net.n_out != classes:
            src = " (= `data.n_classes`)" if ds == "randman" else f" (the classes of {of})"
            raise config_error("network.n_out", net.n_out, f"{classes}{src}")
        if self.init.nu == "measured" and ds == "dvs_gesture":  # no encoder, and the loader measures none
            raise config_error("init.nu", "measured", f"a rate in Hz for {of} (no measurement available)")
        theta = net.theta if net.theta is not None else 1.0
        if self.init.mu_u is not None and not self.init.mu_u < theta:
            raise config_error("init.mu_u", self.init.mu_u, f"< {theta:g} (`network.theta`: the membrane mean "
                                                            "stays below threshold)")
        if self.init.mu_u and self.init.method != "fluctuation":
            raise config_error("init.mu_u", self.init.mu_u, f"0 or absent with `init.method` {self.init.method!r} "
                                                            "(a membrane target of the fluctuation method)")
        if self.init.mode == "calibrated" and net.dale:
            raise config_error("init.mode", "calibrated", "'discrete' or 'continuous' for Dale's-law networks "
                               "(`network.dale` true): calibrated kernels take LIF layers, feed-forward or "
                               "recurrent, dense or convolutional, whose weights are Gaussian")
        if self.init.method != "fluctuation" and net.dale:
            raise config_error("init.method", self.init.method, "'fluctuation' for Dale's-law networks "
                               f"(`network.dale` is true; {self.init.method} weights are signed)")
        return self


def check_experiment(config: Any) -> Experiment:
    """Validate an experiment config (a dict as read from JSON) against :class:`Experiment`.

    Raises:
        ParameterError: the first problem, naming its key path (``training.lr``).
    """
    return validate(Experiment, config, label="the experiment config")
