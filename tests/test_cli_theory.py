"""The `kernel`, `params` and `demo` commands: JSON keys, values, and exit status 2 on bad input."""

import json
import shutil
import subprocess
import sys

import pytest

from fluctinit import theory as T
from fluctinit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_kernel_json(capsys):
    code, out, _ = run(capsys, "kernel", "--tau-mem", "0.02", "--tau-syn", "0.01", "--dt", "0.002", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) == {"epsilon_bar", "epsilon_hat"}
    assert d["epsilon_bar"] == pytest.approx(T.epsilon_bar(0.02, 0.01, 0.002))
    code, out, _ = run(capsys, "kernel", "--mode", "continuous", "--json")
    assert json.loads(out)["epsilon_hat"] == pytest.approx(0.01**2 / 0.06)


def test_params_feedforward_json(capsys):
    code, out, _ = run(capsys, "params", "feedforward", "--fan-in", "700", "--nu", "15.8", "--sigma-u", "1", "--json")
    d = json.loads(out)
    assert code == 0
    assert {"epsilon_bar", "epsilon_hat", "mu_w", "sigma_w", "xi"} <= set(d)
    assert d["sigma_w"] == pytest.approx(T.feedforward_params(700, 15.8).sigma_w)
    code, out, _ = run(capsys, "params", "feedforward", "--fan-in", "700", "--nu", "15.8", "--mode", "continuous", "--json")
    assert round(json.loads(out)["sigma_w"], 2) == 0.23


def test_params_noncentered_and_xi(capsys):
    code, out, _ = run(capsys, "params", "feedforward", "--fan-in", "100", "--nu", "10", "--mu-u", "0.4", "--xi", "2", "--json")
    d = json.loads(out)
    assert d["xi"] == pytest.approx(2.0) and d["sigma_u"] == pytest.approx(0.3)
    assert d["mu_w"] == pytest.approx(0.4 / (100 * 10 * T.kernel_integrals().epsilon_bar))


def test_params_recurrent_json(capsys):
    code, out, _ = run(
        capsys, "params", "recurrent", "--fan-in", "700", "--fan-in-rec", "128", "--nu", "15.8", "--alpha", "0.9", "--json"
    )
    d = json.loads(out)
    ref = T.recurrent_params(700, 128, 15.8, alpha=0.9)
    assert {"mu_w", "sigma_w", "sigma_v", "xi", "epsilon_bar", "epsilon_hat"} <= set(d)
    assert d["sigma_v"] == pytest.approx(ref.sigma_v)


def test_params_dale_json(capsys):
    code, out, _ = run(
        capsys, "params", "dale", "--n-exc", "700", "--n-inh", "32", "--n-exc-rec", "128", "--alpha", "0.9",
        "--nu", "15.8", "--tau-syn-exc", "0.01", "--tau-syn-inh", "0.02", "--json",
    )
    d = json.loads(out)
    ref = T.dale_params(700, 32, 15.8, n_exc_rec=128, alpha=0.9)
    assert d["rate_exc"] == pytest.approx(ref.rate_exc)
    assert d["rate_exc_rec"] == pytest.approx(ref.rate_exc_rec)
    assert d["rate_inh"] == pytest.approx(ref.rate_inh)
    assert {"epsilon_bar_exc", "epsilon_hat_exc", "epsilon_bar_inh", "epsilon_hat_inh"} <= set(d)
    code, out, _ = run(capsys, "params", "dale", "--n-exc", "700", "--n-inh", "32", "--nu-exc", "15.8", "--nu-inh", "8", "--json")
    assert "rate_exc_rec" not in json.loads(out)
    assert json.loads(out)["nu_inh"] == 8.0
    code, out, _ = run(
        capsys, "params", "dale", "--n-exc", "700", "--n-inh", "32", "--nu", "15.8", "--dist", "lognormal",
        "--sigma-log", "0.5", "--json",
    )
    d = json.loads(out)
    assert {"mu_log_exc", "mu_log_inh", "sigma_log"} <= set(d) and d["sigma_log"] == 0.5


def test_params_kaiming_json(capsys):
    code, out, _ = run(capsys, "params", "kaiming", "--fan-in", "50", "--json")
    assert json.loads(out)["sigma_w"] == pytest.approx((2 / 50) ** 0.5)


def test_human_output_and_demo(capsys):
    code, out, _ = run(capsys, "params", "feedforward", "--fan-in", "20", "--nu", "5")
    assert code == 0 and "sigma_w" in out
    code, out, _ = run(capsys, "demo")
    assert code == 0 and "0.0110" in out and "0.0020" in out
    code, out, _ = run(capsys, "demo", "--json")
    assert json.loads(out)["shd_over_randman_sigma_w"] == pytest.approx((100 / (700 * 15.8)) ** 0.5)


BAD = [
    (["params", "feedforward", "--fan-in", "0", "--nu", "5"], "--fan-in"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "-1"], "--nu"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--sigma-u", "0"], "--sigma-u"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--mu-u", "1.5"], "--mu-u"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--mu-u", "0.9", "--sigma-u", "0.01"], "--sigma-u"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--sigma-u", "1", "--xi", "2"], "--xi"),
    (["params", "feedforward", "--nu", "5"], "--fan-in"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--xi", "-1"], "--xi"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--tau-mem", "0"], "--tau-mem"),
    (["params", "feedforward", "--fan-in", "10", "--nu", "5", "--dt", "-0.1"], "--dt"),
    (["params", "recurrent", "--fan-in", "10", "--nu", "5"], "--fan-in-rec"),
    (["params", "recurrent", "--fan-in", "10", "--fan-in-rec", "5", "--nu", "5", "--alpha", "1"], "--alpha"),
    (["params", "recurrent", "--fan-in", "10", "--fan-in-rec", "5", "--nu", "5", "--alpha", "0"], "--alpha"),
    (["params", "dale", "--n-exc", "10", "--n-inh", "5", "--nu", "5", "--mu-u", "0.2"], "--mu-u"),
    (["params", "dale", "--n-exc", "10", "--n-inh", "0", "--nu", "5"], "--n-inh"),
    (["params", "dale", "--n-exc", "10", "--n-inh", "3"], "--nu-exc"),
    (["params", "dale", "--n-exc", "10", "--n-inh", "3", "--nu", "5", "--alpha", "0.5"], "--n-exc-rec"),
    (["params", "dale", "--n-exc", "10", "--n-inh", "3", "--nu", "5", "--tau-syn-inh", "-1"], "--tau-syn"),
    (["params", "dale", "--n-exc", "10", "--n-inh", "3", "--nu", "5", "--dist", "lognormal", "--sigma-log", "0"], "--sigma-log"),
    (["params", "kaiming", "--fan-in", "-3"], "--fan-in"),
    (["params", "kaiming"], "--fan-in"),
    (["params", "bogus"], "ARCH"),
    (["kernel", "--tau-syn", "nan"], "--tau-syn"),
    (["kernel", "--dt", "abc"], "--dt"),
    (["kernel", "--mode", "weird"], "--mode"),
]


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


@pytest.mark.parametrize("argv, flag", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(capsys, argv, flag):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert flag in err
    assert "Traceback" not in err


def test_console_script_exit_status_and_no_traceback():
    exe = shutil.which("fluctinit") or str((__import__("pathlib").Path(sys.executable).parent / "fluctinit"))
    ok = subprocess.run([exe, "params", "feedforward", "--fan-in", "20", "--nu", "5", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["sigma_w"] > 0
    bad = subprocess.run([exe, "params", "feedforward", "--fan-in", "0", "--nu", "5"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "`--fan-in` must be an integer >= 1; got 0" in bad.stderr
    mod = subprocess.run([sys.executable, "-m", "fluctinit", "kernel", "--json"], capture_output=True, text=True)
    assert mod.returncode == 0 and "epsilon_bar" in json.loads(mod.stdout)
