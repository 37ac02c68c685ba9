"""Symbolic derivations (sympy) that the fast numeric path is tested against.

Nothing here runs at call time of the numeric functions; the tests (and the curious) call
these to re-derive every closed form from its starting point:

* the kernel integrals from the kernel's definition (an integral in continuous time, an
  infinite geometric sum over the simulated update in discrete time);
* the inverse maps from the moment equations (eqs. 4-5, 35-36, 40-43, 48-50), solved with
  ``sympy.solve``.

Each function returns sympy expressions in the symbols of :data:`SYM`.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

__all__ = [
    "SYM",
    "continuous_kernel_integrals",
    "discrete_kernel_integrals",
    "discrete_kernel_series",
    "feedforward_solution",
    "recurrent_solution",
    "dale_solution",
    "paper_printed",
]

_pos = dict(positive=True)
SYM = {
    name: sp.Symbol(name, **_pos)
    for name in (
        "tau_mem", "tau_syn", "dt", "t", "n", "nu", "epsilon_bar", "epsilon_hat", "sigma_u",
        "n_F", "n_R", "n_I", "nu_F", "nu_R", "nu_I", "alpha", "kappa",
        "eb_E", "eh_E", "eb_I", "eh_I", "xi",
    )
}
SYM["mu_u"] = sp.Symbol("mu_u", real=True)
SYM["theta"] = sp.Symbol("theta", real=True)


@lru_cache(maxsize=None)
def continuous_kernel_integrals() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(epsilon(t), epsilon_bar, epsilon_hat) in continuous time.

    epsilon solves tau_mem dU/dt = -U + I with I(t) = exp(-t/tau_syn) (unit current jump).
    """
    t, tm, ts = SYM["t"], SYM["tau_mem"], SYM["tau_syn"]
    s = sp.Symbol("s", positive=True)
    # variation of constants: U(t) = (1/tau_mem) int_0^t e^{-(t-s)/tau_mem} e^{-s/tau_syn} ds
    eps = sp.integrate(sp.exp(-(t - s) / tm) * sp.exp(-s / ts), (s, 0, t)) / tm
    # sympy splits off tau_mem == tau_syn; keep the branch valid for distinct time constants
    # (the tests check that the closed forms have no singularity there).
    eps = sp.piecewise_fold(eps)
    if isinstance(eps, sp.Piecewise):
        generic = {tm: 2 * ts}
        eps = next(e for e, cond in eps.args if bool(sp.sympify(cond).subs(generic)))
    eps = sp.simplify(eps)

    def integral(expr):
        # a sum of decaying exponentials: integrate term by term (sympy's integral of the whole
        # sum can return nan), then simplify
        terms = sp.Add.make_args(sp.expand(sp.powsimp(sp.expand(expr), combine="exp")))
        return sp.factor(sp.simplify(sum(sp.integrate(term, (t, 0, sp.oo), conds="none") for term in terms)))

    bar = integral(eps)
    hat = integral(eps**2)
    return eps, bar, hat


@lru_cache(maxsize=None)
def discrete_kernel_integrals() -> tuple[sp.Expr, sp.Expr]:
    """(epsilon_bar, epsilon_hat) of the exact discrete update (eqs. 10-11), as closed forms.

    K[n] = (1-a) (a^{n-1} - b^{n-1}) / (a - b) for n >= 1, K[0] = 0, with a = e^{-dt/tau_mem},
    b = e^{-dt/tau_syn}; the sums dt sum K and dt sum K^2 are geometric series.
    """
    a, b = sp.symbols("a b", positive=True)
    m = sp.Symbol("m", integer=True, nonnegative=True)  # m = n - 1
    dt = SYM["dt"]
    kernel = (1 - a) * (a**m - b**m) / (a - b)  # K[m + 1]; K[0] = 0

    def series(expr):
        total = sp.summation(sp.expand(expr), (m, 0, sp.oo))
        # 0 < a, b < 1: every geometric series converges; take the convergent branch
        return total.replace(sp.Piecewise, lambda *branches: branches[0][0])

    bar = sp.factor(sp.simplify(dt * series(kernel)))
    hat = sp.factor(sp.simplify(dt * series(kernel**2)))
    sub = {a: sp.exp(-dt / SYM["tau_mem"]), b: sp.exp(-dt / SYM["tau_syn"])}
    return bar.subs(sub), hat.subs(sub)


def discrete_kernel_series(order: int = 2) -> tuple[sp.Expr, sp.Expr]:
    """Series of the discrete integrals in dt around 0 (the convergence to continuous time)."""
    bar, hat = discrete_kernel_integrals()
    dt = SYM["dt"]
    return (
        sp.simplify(sp.series(bar, dt, 0, order).removeO()),
        sp.simplify(sp.series(hat, dt, 0, order).removeO()),
    )


@lru_cache(maxsize=None)
def feedforward_solution() -> dict[str, sp.Expr]:
    """Solve eqs. 4-5 for (mu_W, sigma_W^2) given (mu_U, sigma_U)."""
    n, nu, eb, eh, mu_u, sig = (SYM[k] for k in ("n", "nu", "epsilon_bar", "epsilon_hat", "mu_u", "sigma_u"))
    mu_w, var_w = sp.symbols("mu_w var_w", real=True)
    sol = sp.solve(
        [sp.Eq(mu_u, n * mu_w * nu * eb), sp.Eq(sig**2, n * (var_w + mu_w**2) * nu * eh)],
        [mu_w, var_w],
        dict=True,
    )
    (s,) = sol
    return {"mu_w": sp.simplify(s[mu_w]), "var_w": sp.simplify(s[var_w])}


@lru_cache(maxsize=None)
def recurrent_solution() -> dict[str, sp.Expr]:
    """Solve eqs. 35-36 with a common mean and the variance split alpha of eq. 34."""
    n_f, n_r, nu_f, nu_r, eb, eh, mu_u, sig, alpha = (
        SYM[k] for k in ("n_F", "n_R", "nu_F", "nu_R", "epsilon_bar", "epsilon_hat", "mu_u", "sigma_u", "alpha")
    )
    mu, var_w, var_v = sp.symbols("mu_wv var_w var_v", real=True)
    ff = n_f * (var_w + mu**2) * nu_f * eh
    rec = n_r * (var_v + mu**2) * nu_r * eh
    sol = sp.solve(
        [
            sp.Eq(mu_u, n_f * mu * nu_f * eb + n_r * mu * nu_r * eb),  # eq. 35
            sp.Eq(sig**2, ff + rec),  # eq. 36
            sp.Eq(alpha * (ff + rec), ff),  # eq. 34
        ],
        [mu, var_w, var_v],
        dict=True,
    )
    (s,) = sol
    return {"mu_wv": sp.simplify(s[mu]), "var_w": sp.simplify(s[var_w]), "var_v": sp.simplify(s[var_v])}


@lru_cache(maxsize=None)
def dale_solution(recurrent: bool) -> dict[str, sp.Expr]:
    """Solve the Dale's-law moment equations for the mean weights m_F, m_R, m_I at mu_U = 0.

    Weights of each population have second moment kappa * mean^2 (kappa = 2 for exponential
    weights, eq. 43; e^{sigma_log^2} for log-normal).  Without recurrence: eqs. 42-43 with
    mu_U = 0; with recurrence: eqs. 48-50.  Returns the positive solution.
    """
    n_f, n_r, n_i, nu_f, nu_r, nu_i, alpha, kappa, sig = (
        SYM[k] for k in ("n_F", "n_R", "n_I", "nu_F", "nu_R", "nu_I", "alpha", "kappa", "sigma_u")
    )
    eb_e, eh_e, eb_i, eh_i = (SYM[k] for k in ("eb_E", "eh_E", "eb_I", "eh_I"))
    m_f, m_r, m_i = sp.symbols("m_F m_R m_I", positive=True)
    var_f = n_f * nu_f * eh_e * kappa * m_f**2
    var_i = n_i * nu_i * eh_i * kappa * m_i**2
    if not recurrent:
        eqs = [
            sp.Eq(0, n_f * nu_f * eb_e * m_f - n_i * nu_i * eb_i * m_i),
            sp.Eq(sig**2, var_f + var_i),
        ]
        (s,) = sp.solve(eqs, [m_f, m_i], dict=True)
        return {"m_F": sp.simplify(s[m_f]), "m_I": sp.simplify(s[m_i])}
    var_r = n_r * nu_r * eh_e * kappa * m_r**2
    # Solved step by step (one joint solve is slow): eq. 50 for m_R, eq. 48 (mu_U = 0) for
    # m_I, then eq. 49 for m_F; all unknowns are positive means, so each root is unique.
    (mr_of_mf,) = sp.solve(sp.Eq(alpha * (var_f + var_r), var_f), m_r)
    (mi_of_mf,) = sp.solve(
        sp.Eq(0, n_f * nu_f * eb_e * m_f + n_r * nu_r * eb_e * mr_of_mf - n_i * nu_i * eb_i * m_i), m_i
    )
    total = (var_f + var_r + var_i).subs({m_r: mr_of_mf, m_i: mi_of_mf})
    scale = sp.simplify(total / m_f**2)  # sigma_U^2 = scale * m_F^2
    mf = sig / sp.sqrt(scale)
    return {
        "m_F": sp.simplify(mf),
        "m_R": sp.simplify(mr_of_mf.subs(m_f, mf)),
        "m_I": sp.simplify(mi_of_mf.subs(m_f, mf)),
    }


def paper_printed() -> dict[str, sp.Expr]:
    """Formulas as printed in the paper's tables 8-9 and eq. 55 (some misprinted).

    Used by the tests to show which printed forms disagree with the derivation and that the
    corrected forms documented in docs/theory.md agree.  Names: ``table8_mu_w`` (non-centered
    feed-forward mean), ``table8_var_w_centered_rec`` / ``table8_var_v_centered_rec`` (centered
    recurrent variances), ``table8_mu_wv`` (recurrent common mean), ``eq55_lambda_f``
    (Dale lambda_F), ``eq47_lambda_e`` (Dale feed-forward lambda_E), ``eq38_var_w``,
    ``eq39_var_v`` (recurrent variances as printed in the text, equal rates).
    """
    n, nu, eb, eh, sig, mu_u = (SYM[k] for k in ("n", "nu", "epsilon_bar", "epsilon_hat", "sigma_u", "mu_u"))
    n_f, n_r, n_i, alpha = SYM["n_F"], SYM["n_R"], SYM["n_I"], SYM["alpha"]
    eb_e, eh_e, eb_i, eh_i = (SYM[k] for k in ("eb_E", "eh_E", "eb_I", "eh_I"))
    out = {
        "table8_mu_w": mu_u / (n * nu * eh),
        "table8_var_w_centered_rec": alpha * sig**2 / (n_f * n_r * nu * eh),
        "table8_var_v_centered_rec": (1 - alpha) * sig**2 / (n_r * n_f * nu * eh),
        "table8_mu_wv": mu_u / ((n_f + n_r) * nu * eh),
        "eq38_var_w": alpha / (n_f * nu * eh) * sig**2 - (mu_u / ((n_f + n_r) * nu * eb)) ** 2,
        "eq39_var_v": (1 - alpha) / (n_r * nu * eh) * sig**2 - (mu_u / ((n_f + n_r) * nu * eb)) ** 2,
    }
    # Dale, exponential, equal rates nu (eqs. 45, 47, 51, 53, 55 as printed)
    d_ei = n_i * nu * eb_i / (n_f * nu * eb_e)
    out["eq47_lambda_e"] = sp.sqrt(2 * (d_ei**2 * n_f * nu * eh_e + n_i * nu * eh_i)) / (sig * d_ei)
    d_r = sp.sqrt(alpha * n_r / (n_f - alpha * n_f))
    d_eir = d_r * eb_i * n_i / (d_r * eb_e * n_f + eb_e * n_r)
    out["eq51_delta_r"] = d_r
    out["eq53_delta_eir"] = d_eir
    out["eq55_lambda_f"] = sp.sqrt(2 * nu * (d_eir**2 * eh_e * n_r + d_r**2 * (d_eir * n_f * eh_e + n_i * eh_i))) / (
        sig * d_r * d_eir
    )
    out["eq55_lambda_f_corrected"] = sp.sqrt(
        2 * nu * (d_eir**2 * eh_e * n_r + d_r**2 * (d_eir**2 * n_f * eh_e + n_i * eh_i))
    ) / (sig * d_r * d_eir)
    return out
