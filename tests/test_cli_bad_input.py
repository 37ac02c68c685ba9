"""Every bad input to ``fluctinit kernel|params|demo|validate|bench``: exit status 2, exactly one
stderr line naming the option, nothing on stdout, nothing written, and no work started.

The cases are a table: for each option of each command bad types, values out of range, huge
and tiny values, combinations where the option does not apply (generated from the spec below
of which options each architecture, data set and initializer reads -- the paper's equations
for params, the validate help for validate), missing options, and bad paths.  The work itself
(the simulation of validate, Randman's generation, bench's timed steps) is replaced by a
function that fails the test, so a case passes only if it is refused before any work.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from fluctinit import cli

from test_membrane_data import poisson_events, write_shd_file


@dataclass(frozen=True)
class Case:
    command: str
    argv: tuple
    flag: str  # the option the one error line must name
    kind: str  # type, range, huge, tiny, inapplicable, missing, path

    @property
    def id(self) -> str:
        text = " ".join(self.argv)
        return f"{self.kind}: {text[:120]}"


CASES: list[Case] = []


def add(command, kind, flag, *argv):
    CASES.append(Case(command, (command, *map(str, argv)), flag, kind))


# ---------------------------------------------------------------- kernel
K = "kernel"
for flag in ("--tau-mem", "--tau-syn", "--dt"):
    add(K, "type", flag, flag, "abc")
    add(K, "type", flag, flag, "1,0")
    add(K, "range", flag, flag, "0")
    add(K, "range", flag, flag, "-1")
    add(K, "range", flag, flag, "nan")
    add(K, "range", flag, flag, "inf")
add(K, "type", "--mode", "--mode", "weird")
add(K, "huge", "--tau-mem", "--tau-mem", "1e300", "--dt", "1e-300")  # epsilon_hat underflows
add(K, "huge", "--tau-syn", "--tau-syn", "1e200", "--mode", "continuous")  # tau_syn**2 overflows
add(K, "huge", "--dt", "--dt", "1e300")
add(K, "tiny", "--tau-mem", "--tau-mem", "1e-300")
add(K, "tiny", "--tau-syn", "--tau-syn", "5e-324")
add(K, "tiny", "--dt", "--dt", "5e-324")
add(K, "inapplicable", "--dt", "--mode", "continuous", "--dt", "0.001")
add(K, "type", "--json", "--json=yes")

# ---------------------------------------------------------------- params
P = "params"
BASE = {
    "kaiming": ("--fan-in", "10"),
    "feedforward": ("--fan-in", "10", "--nu", "5"),
    "recurrent": ("--fan-in", "10", "--fan-in-rec", "4", "--nu", "5"),
    "dale": ("--n-exc", "10", "--n-inh", "3", "--nu", "5"),
}
# which options each architecture reads (eq. 56; eqs. 6-9; eqs. 34-39; eqs. 42-55 with their
# excitatory and inhibitory kernels), independent of the implementation's own table
_TARGET = {"--sigma-u", "--xi", "--mu-u", "--theta"}
_KERNEL = {"--tau-mem", "--tau-syn", "--dt", "--mode"}
USES = {
    "kaiming": {"--fan-in", "--gain"},
    "feedforward": {"--fan-in", "--nu"} | _TARGET | _KERNEL,
    "recurrent": {"--fan-in", "--fan-in-rec", "--nu", "--nu-rec", "--alpha"} | _TARGET | _KERNEL,
    "dale": {"--n-exc", "--n-inh", "--n-exc-rec", "--alpha", "--nu", "--nu-exc", "--nu-inh", "--tau-syn-exc",
             "--tau-syn-inh", "--tau-mem", "--dt", "--mode", "--dist", "--sigma-log"} | _TARGET,
}
VALID = {"--fan-in": 10, "--fan-in-rec": 4, "--alpha": 0.5, "--nu": 5, "--nu-rec": 3, "--sigma-u": 1, "--xi": 2,
         "--mu-u": 0, "--theta": 1, "--gain": 1.5, "--n-exc": 10, "--n-inh": 3, "--n-exc-rec": 4,
         "--tau-syn-exc": 0.01, "--tau-syn-inh": 0.02, "--nu-exc": 5, "--nu-inh": 5, "--dist": "lognormal",
         "--sigma-log": 0.5, "--tau-mem": 0.02, "--tau-syn": 0.01, "--dt": 0.001, "--mode": "continuous"}
INTS = {"--fan-in", "--fan-in-rec", "--n-exc", "--n-inh", "--n-exc-rec"}
OUT_OF_RANGE = {
    "--fan-in": ("0", "-1"), "--fan-in-rec": ("0",), "--alpha": ("0", "1", "1.5", "nan"),
    "--nu": ("0", "-5", "nan", "inf"), "--nu-rec": ("0",), "--sigma-u": ("0", "-1", "inf"), "--xi": ("0", "-2"),
    "--mu-u": ("1", "2", "nan"), "--theta": ("0", "nan", "-inf"), "--gain": ("0", "-1", "inf"), "--n-exc": ("0",),
    "--n-inh": ("0",), "--n-exc-rec": ("0",), "--tau-syn-exc": ("0", "-1"), "--tau-syn-inh": ("0", "nan"),
    "--nu-exc": ("0",), "--nu-inh": ("-1",), "--sigma-log": ("0", "-1"), "--tau-mem": ("0", "-1"),
    "--tau-syn": ("0",), "--dt": ("0", "-1"), "--mode": ("exact",), "--dist": ("gamma",),
}
for arch, base in BASE.items():
    for flag in sorted(USES[arch]):
        extra = ("--dist", "lognormal") if flag == "--sigma-log" else ()
        extra += ("--n-exc-rec", "4") if flag == "--alpha" and arch == "dale" else ()
        drop = {flag, "--nu"} if flag == "--nu-exc" else {flag}  # dale: --nu-exc replaces --nu
        base_wo = tuple(x for i, x in enumerate(base) if not (x in drop or (i and base[i - 1] in drop)))
        add(P, "type", flag, arch, *base_wo, *extra, flag, "1.5" if flag in INTS else "x")
        for bad in OUT_OF_RANGE.get(flag, ()):
            add(P, "range", flag, arch, *base_wo, *extra, flag, bad)
    for flag in sorted(set(VALID) - USES[arch]):
        add(P, "inapplicable", flag, arch, *base, flag, VALID[flag])
    if arch != "kaiming":
        add(P, "inapplicable", "--sigma-u", arch, *base, "--xi", "2", "--sigma-u", "1")
        add(P, "inapplicable", "--dt", arch, *base, "--mode", "continuous", "--dt", "0.001")
    for flag in {"kaiming": ["--fan-in"], "feedforward": ["--fan-in", "--nu"],
                 "recurrent": ["--fan-in", "--fan-in-rec", "--nu"], "dale": ["--n-exc", "--n-inh"]}[arch]:
        base_wo = tuple(x for i, x in enumerate(base) if not (x == flag or (i and base[i - 1] == flag)))
        add(P, "missing", flag, arch, *base_wo)
add(P, "range", "--mu-u", "dale", *BASE["dale"], "--mu-u", "0.2")  # Dale's law balances: mu_u = 0
add(P, "inapplicable", "--sigma-log", "dale", *BASE["dale"], "--sigma-log", "2")  # exponential
add(P, "inapplicable", "--alpha", "dale", *BASE["dale"], "--alpha", "0.5")  # without --n-exc-rec
add(P, "inapplicable", "--nu", "dale", *BASE["dale"], "--nu-exc", "4")
add(P, "missing", "--nu-exc", "dale", "--n-exc", "10", "--n-inh", "3")
add(P, "type", "ARCH", "bogus")
add(P, "missing", "ARCH")
FF, REC, DALE = BASE["feedforward"], BASE["recurrent"], BASE["dale"]
HUGE_PARAMS = [  # (flag named, argv after ARCH): results beyond the float range, and the dt rule
    ("--fan-in", ["kaiming", "--fan-in", 10**400]),
    ("--fan-in", ["feedforward", "--fan-in", 10**400, "--nu", 5]),
    ("--fan-in-rec", ["recurrent", "--fan-in", 10, "--fan-in-rec", 10**400, "--nu", 5]),
    ("--nu", ["feedforward", "--fan-in", 10**10, "--nu", 1e308]),
    ("--nu-rec", ["recurrent", "--fan-in", 10, "--fan-in-rec", 10**10, "--nu", 5, "--nu-rec", 1e308]),
    ("--sigma-u", ["feedforward", "--fan-in", 10, "--nu", 1e-300, "--sigma-u", 1e300]),
    ("--sigma-u", ["recurrent", *REC[:4], "--nu", 1e-300, "--sigma-u", 1e300]),
    ("--mu-u", ["feedforward", *FF, "--mu-u=-1e300"]),
    ("--mu-u", ["recurrent", *REC, "--mu-u=-1e200"]),
    ("--xi", ["feedforward", *FF, "--xi", 1e-300, "--theta", 1e300]),
    ("--theta", ["feedforward", *FF, "--theta", 1e308, "--mu-u=-1e308"]),
    ("--gain", ["kaiming", "--fan-in", 10, "--gain", "1e999"]),
    ("--alpha", ["recurrent", *REC, "--alpha", 1e300]),
    ("--n-exc", ["dale", "--n-exc", 10**400, "--n-inh", 3, "--nu", 5]),
    ("--n-inh", ["dale", "--n-exc", 10, "--n-inh", 10**400, "--nu", 5]),
    ("--n-exc-rec", ["dale", *DALE, "--n-exc-rec", 10**400]),
    ("--nu-exc", ["dale", "--n-exc", 10**10, "--n-inh", 3, "--nu-exc", 1e308]),
    ("--nu-inh", ["dale", "--n-exc", 10, "--n-inh", 10**10, "--nu", 5, "--nu-inh", 1e308]),
    ("--sigma-log", ["dale", *DALE, "--dist", "lognormal", "--sigma-log", 1e300]),
    ("--tau-syn-exc", ["dale", *DALE, "--mode", "continuous", "--tau-syn-exc", 1e200]),
    ("--tau-syn-inh", ["dale", *DALE, "--mode", "continuous", "--tau-syn-inh", 1e200]),
    ("--tau-mem", ["feedforward", *FF, "--tau-mem", 1e300, "--dt", 1e-300]),
    ("--tau-syn", ["feedforward", *FF, "--tau-syn", 1e200, "--mode", "continuous"]),
    ("--dt", ["recurrent", *REC, "--dt", 1e300]),
]
TINY_PARAMS = [
    ("--nu", ["feedforward", "--fan-in", 10, "--nu", 5e-324]),
    ("--nu-rec", ["recurrent", *REC, "--nu-rec", 5e-324]),
    ("--sigma-u", ["feedforward", *FF, "--sigma-u", 5e-324]),  # xi = 1/sigma_u overflows
    ("--xi", ["recurrent", *REC, "--xi", 5e-324]),
    ("--nu-exc", ["dale", "--n-exc", 10, "--n-inh", 3, "--nu-exc", 5e-324]),
    ("--nu-inh", ["dale", *DALE, "--nu-inh", 5e-324]),
    ("--tau-mem", ["feedforward", *FF, "--tau-mem", 1e-300]),
    ("--tau-syn", ["recurrent", *REC, "--tau-syn", 1e-300]),
    ("--tau-syn-exc", ["dale", *DALE, "--tau-syn-exc", 1e-300]),
    ("--tau-syn-inh", ["dale", *DALE, "--tau-syn-inh", 1e-300]),
    ("--dt", ["feedforward", *FF, "--dt", 5e-324]),
]
for kind, rows in (("huge", HUGE_PARAMS), ("tiny", TINY_PARAMS)):
    for flag, argv in rows:
        add(P, kind, flag, *argv)
add(P, "type", "--json", "kaiming", "--fan-in", "10", "--json=1")

# ---------------------------------------------------------------- demo
add("demo", "inapplicable", "--nu", "--nu", "5")
add("demo", "inapplicable", "extra", "extra")
add("demo", "type", "--json", "--json=1")

# ---------------------------------------------------------------- validate
V = "validate"
SMALL = ("--neurons", "8", "--fan-in", "10", "--trials", "2", "--duration", "0.1")
DATA_BASE = {"poisson": SMALL, "randman": (), "shd": ("--path", "shd_train.h5")}
DATA_FLAGS = {  # what each data set reads, beyond the flags every run reads
    "poisson": {"--fan-in", "--trials", "--duration", "--poisson-mode"},
    "randman": {"--max-samples"},
    "shd": {"--path", "--duration", "--max-samples"},
}
V_VALID = {"--fan-in": 10, "--trials": 2, "--duration": 0.1, "--poisson-mode": "count", "--max-samples": 2,
           "--path": "shd_train.h5", "--alpha": 0.5, "--fan-in-rec": 4, "--n-inh": 3, "--nu-inh": 5,
           "--tau-syn-inh": 0.02}
INIT_FLAGS = {  # what each initializer reads (draw_population's docstring)
    "feedforward": set(),
    "recurrent": {"--alpha", "--fan-in-rec"},
    "dale-exponential": {"--fan-in-rec", "--n-inh", "--nu-inh", "--tau-syn-inh"},
    "dale-lognormal": {"--fan-in-rec", "--n-inh", "--nu-inh", "--tau-syn-inh"},
}
for data, base in DATA_BASE.items():
    for flag in sorted(set().union(*DATA_FLAGS.values()) - DATA_FLAGS[data]):
        add(V, "inapplicable", flag, data, *base, flag, V_VALID[flag])
    for init, reads in INIT_FLAGS.items():
        for flag in sorted({"--alpha", "--fan-in-rec", "--n-inh", "--nu-inh", "--tau-syn-inh"} - reads):
            add(V, "inapplicable", flag, data, *base, "--init", init, flag, V_VALID[flag])
    for init in ("dale-exponential", "dale-lognormal"):  # alpha splits the excitatory variance only with recurrence
        add(V, "inapplicable", "--alpha", data, *base, "--init", init, "--alpha", "0.5")
    if data != "shd":  # a switch: no value (only SHD files hold float spike times to check)
        add(V, "inapplicable", "--strict", data, *base, "--strict")
    add(V, "inapplicable", "--sigma-u", data, *base, "--sigma-u", "1", "--xi", "2")
    add(V, "inapplicable", "--sigma-u", data, *base, "--sweep", "0.5,1", "--sigma-u", "1")
    add(V, "inapplicable", "--xi", data, *base, "--sweep", "0.5,1", "--xi", "2")
    add(V, "inapplicable", "--hist-neurons", data, *base, "--hist-neurons", "2")
    add(V, "type", "--neurons", data, *base, "--neurons", "1.5")
    add(V, "range", "--neurons", data, *base, "--neurons", "1")  # no standard error
    add(V, "range", "--dt", data, *base, "--dt", "0.5")
    add(V, "range", "--mu-u", data, *base, "--mu-u", "1.5")
    add(V, "range", "--mu-u", data, *base, "--init", "dale-exponential", "--mu-u", "0.3")
    add(V, "huge", "--sigma-u", data, *base, "--sigma-u", "1e160")
    add(V, "huge", "--mu-u", data, *base, "--mu-u=-1e200")
    add(V, "huge", "--neurons", data, *base, "--neurons", "100000000")
    add(V, "tiny", "--xi", data, *base, "--xi", "1e-300")
    for opt in ("--out", "--hist"):
        for bad in ("", "/", "a_dir", "a_file/x.json", "/proc/x.json"):
            add(V, "path", opt, data, *base, opt, bad)
    add(V, "path", "--out", data, *base, "--out", "o/t.json", "--hist", "o/t.json")
V_TYPES = {"--sigma-u": "x", "--mu-u": "", "--xi": "1,2", "--fan-in": "x", "--nu": "x", "--duration": "x",
           "--trials": "2.5", "--batch-size": "x", "--seed": "1.5", "--tau-mem": "x", "--tau-syn": "x", "--dt": "x",
           "--alpha": "x", "--fan-in-rec": "x", "--n-inh": "x", "--nu-inh": "x", "--tau-syn-inh": "x",
           "--sweep": "a,b", "--hist-neurons": "x", "--max-samples": "x", "--poisson-mode": "gauss",
           "--mode": "exact", "--init": "xavier"}
for flag, bad in V_TYPES.items():
    data = "randman" if flag == "--max-samples" else "poisson"
    add(V, "type", flag, data, *DATA_BASE[data], flag, bad)
add(V, "type", "data", "mnist")
add(V, "missing", "data")
add(V, "type", "--json", "poisson", "--json=1")
V_RANGE = [  # (flag, extra argv): each against the poisson base unless it names its data
    ("--sigma-u", ["--sigma-u", "0"]), ("--sigma-u", ["--sigma-u", "nan"]), ("--mu-u", ["--mu-u", "nan"]),
    ("--xi", ["--xi", "0"]), ("--neurons", ["--neurons", "0"]), ("--fan-in", ["--fan-in", "0"]),
    ("--nu", ["--nu", "0"]), ("--nu", ["--nu", "-1"]), ("--nu", ["--nu", "600"]),
    ("--duration", ["--duration", "0"]), ("--duration", ["--duration", "-1"]), ("--trials", ["--trials", "0"]),
    ("--batch-size", ["--batch-size", "0"]), ("--seed", ["--seed", "-1"]), ("--tau-mem", ["--tau-mem", "0"]),
    ("--tau-syn", ["--tau-syn", "-1"]), ("--dt", ["--dt", "0"]),
    ("--alpha", ["--init", "recurrent", "--alpha", "0"]), ("--alpha", ["--init", "recurrent", "--alpha", "1"]),
    ("--fan-in-rec", ["--init", "recurrent", "--fan-in-rec", "0"]),
    ("--n-inh", ["--init", "dale-exponential", "--n-inh", "0"]),
    ("--nu-inh", ["--init", "dale-lognormal", "--nu-inh", "0"]),
    ("--nu-inh", ["--init", "dale-lognormal", "--nu-inh", "600"]),
    ("--nu", ["--init", "recurrent", "--poisson-mode", "count", "--nu", "600"]),
    ("--tau-syn-inh", ["--init", "dale-exponential", "--tau-syn-inh", "0"]),
    ("--tau-syn-inh", ["--init", "dale-exponential", "--tau-syn-inh", "0.003"]),
    ("--sweep", ["--sweep", "1,-2"]), ("--sweep", ["--sweep", ""]), ("--sweep", ["--sweep", "1,nan"]),
    ("--hist-neurons", ["--hist", "h.json", "--hist-neurons", "0"]),
    ("--hist-neurons", ["--hist", "h.json", "--hist-neurons", "9"]),
    ("--duration", ["--duration", "0.01"]),  # 5 steps: fewer than 10
    ("--max-samples", ["randman", "--max-samples", "0"]), ("--max-samples", ["shd", "--max-samples", "0"]),
    ("--duration", ["shd", "--duration", "0.005"]),
]
V_HUGE = [
    ("--fan-in", ["--fan-in", "100000000"]), ("--nu", ["--nu", "1e300"]),
    ("--nu", ["--poisson-mode", "count", "--nu", "1e33"]),  # weights vanish in float32
    ("--duration", ["--duration", "1e6"]), ("--trials", ["--trials", "1000000000000"]),
    ("--batch-size", ["--trials", "1000000000", "--batch-size", "1000000000"]), ("--seed", ["--seed", "1" + "0" * 30]),
    ("--tau-mem", ["--tau-mem", "1e300"]), ("--tau-syn", ["--tau-syn", "1e300"]), ("--dt", ["--dt", "1e300"]),
    ("--alpha", ["--init", "recurrent", "--alpha", "1e300"]),
    ("--fan-in-rec", ["--init", "recurrent", "--fan-in-rec", "1000000000"]),
    ("--n-inh", ["--init", "dale-exponential", "--n-inh", "1000000000"]),
    ("--nu-inh", ["--init", "dale-exponential", "--nu-inh", "1e300"]),
    ("--tau-syn-inh", ["--init", "dale-lognormal", "--tau-syn-inh", "1e300"]),
    ("--sweep", ["--sweep", "1,1e160"]), ("--hist-neurons", ["--hist", "h.json", "--hist-neurons", "1000000000"]),
    ("--duration", ["shd", "--duration", "1e7"]),
]
V_TINY = [
    ("--sigma-u", ["--sigma-u", "1e-300"]), ("--nu", ["--nu", "1e-300"]), ("--duration", ["--duration", "1e-9"]),
    ("--dt", ["--dt", "1e-9"]), ("--tau-mem", ["--tau-mem", "1e-9"]), ("--tau-syn", ["--tau-syn", "1e-9"]),
    ("--tau-syn-inh", ["--init", "dale-exponential", "--tau-syn-inh", "1e-9"]),
    ("--nu-inh", ["--init", "dale-exponential", "--nu-inh", "1e-300"]),
    ("--dt", ["randman", "--dt", "5e-324"]),
]
for kind, rows in (("range", V_RANGE), ("huge", V_HUGE), ("tiny", V_TINY)):
    for flag, extra in rows:
        data = extra[0] if extra and extra[0] in DATA_BASE else "poisson"
        extra = extra[1:] if extra and extra[0] in DATA_BASE else extra
        add(V, kind, flag, data, *DATA_BASE[data], *extra)
for bad in ("missing.h5", "a_dir", "bad.h5", ""):
    add(V, "path", "--path", "shd", "--path", bad)
add(V, "missing", "--path", "shd")

# ---------------------------------------------------------------- bench
B = "bench"
for flag, bad in (("--batches", "x"), ("--batch-size", "1.5"), ("--seed", "x"), ("--threads", "x")):
    add(B, "type", flag, flag, bad)
for argv in (("--shapes", "mnist"), ("--shapes", ""), ("--shapes", ","), ("--shapes", "randman,randman"),
             ("--batches", "0"), ("--batches", "1001"), ("--batch-size", "0"), ("--device", "tpu"),
             ("--seed", "-1"), ("--threads", "0"), ("--threads", str((os.cpu_count() or 1) + 1))):
    add(B, "range", argv[0], *argv)
for argv in (("--batch-size", "100000"), ("--batches", "1000000000"), ("--seed", "1" + "0" * 30),
             ("--threads", "1000000")):
    add(B, "huge", argv[0], *argv)
add(B, "type", "--json", "--json=1")
add(B, "type", "--no-peers", "--no-peers=1")
add(B, "type", "--device", "--device", "")


# ---------------------------------------------------------------- running them

@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with an SHD file, a malformed one, a file and a folder; the work replaced by a failure."""
    rng = np.random.default_rng(3)
    t, u = poisson_events(rng, 2)
    write_shd_file(tmp_path / "shd_train.h5", t, u, [1, 2])
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    monkeypatch.chdir(tmp_path)

    def work(*args, **kwargs):
        raise AssertionError("bad input reached the work")

    import fluctinit.datasets.randman
    import fluctinit.training.bench
    import fluctinit.validation.report

    monkeypatch.setattr(fluctinit.validation.report, "measure_membrane", work)
    monkeypatch.setattr(fluctinit.validation.report, "measure_rates", work)
    monkeypatch.setattr(fluctinit.datasets.randman, "make_randman", work)
    monkeypatch.setattr(fluctinit.training.bench, "bench_shape", work)
    return tmp_path


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, dirs, files in os.walk(root) for f in files + dirs)


def _names(err: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", err) is not None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, workdir, capsys):
    before = _tree(workdir)
    try:
        code = cli.main(list(case.argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("fluctinit"), err
    assert "Traceback" not in err
    assert _names(err, case.flag), (case.flag, err)
    assert _tree(workdir) == before


def _options(command):
    """Every option (and positional) of a subcommand, from the parser itself."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    names = set()
    for action in sub._actions:
        if action.dest == "help":
            continue
        names.add(action.option_strings[0] if action.option_strings else action.metavar or action.dest)
    return names


@pytest.mark.parametrize("command", ["kernel", "params", "demo", "validate", "bench"])
def test_every_option_has_bad_cases(command):
    """Each option of each command is the named option of at least one case; each numeric
    option of params and validate has a bad type, an out-of-range and a huge or tiny case."""
    mine = [c for c in CASES if c.command == command]
    covered = {c.flag for c in mine}
    assert _options(command) <= covered, _options(command) - covered
    kinds = Counter(c.kind for c in mine)
    assert kinds["type"] >= 1 and len(mine) >= 3, kinds
    if command in ("params", "validate", "kernel"):
        for flag in _options(command) - {"--json", "--mode", "--dist", "--init", "--poisson-mode", "--path",
                                         "--out", "--hist", "ARCH", "data", "--max-samples", "--strict"}:  # switches take no value
            have = {c.kind for c in mine if c.flag == flag}
            assert "type" in have and ("range" in have or "huge" in have), (flag, have)


def test_case_counts_per_command():
    """The table's size per command and kind (a guard against cases silently dropping out)."""
    counts = Counter(c.command for c in CASES)
    assert counts["kernel"] >= 25 and counts["params"] >= 230 and counts["validate"] >= 200
    assert counts["demo"] >= 3 and counts["bench"] >= 20
    inapplicable = Counter(c.command for c in CASES if c.kind == "inapplicable")
    assert inapplicable["params"] >= 40 and inapplicable["validate"] >= 50
