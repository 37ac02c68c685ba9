"""Supplementary S2: the spread of the membrane statistics across neurons from finite weight sampling.

Every neuron i of a layer initialized by eq. 9 draws its own n = ``fan_in`` weights
w_ij ~ N(mu_w, sigma_w**2), so its own membrane moments (paper eqs. 2-3, rate nu),

    mu_i = nu epsilon_bar sum_j w_ij,      sigma_i**2 = nu epsilon_hat sum_j w_ij**2,

scatter around the target (mu_U, sigma_U) of eqs. 4-5.  The theory's prediction of that spread
is the across-neuron standard deviation of these per-neuron values for the drawn weights
(``MembraneReport.sigma_u_spread_predicted`` and ``mu_u_spread_predicted`` of
:func:`fluctinit.validation.sweep`, from ``theory.membrane_moments_from_weights``), set here
against the across-neuron standard deviation of the per-neuron sigma and mu *measured* from
the simulated free membranes (independent Bernoulli-Poisson inputs,
:func:`fluctinit.validation.poisson_source`; the Bernoulli factor 1 - nu dt is in both).

For zero-mean weights the expected spreads have closed forms, drawn as lines:
sigma_i = sigma_U sqrt(1 - nu dt) sqrt(chi2_n / n) (a scaled chi distribution, relative spread
about 1/sqrt(2n): 16 % at n = 20, 2.7 % at n = 700), and mu_i ~ N(0, sigma_U**2 nu
epsilon_bar**2 / epsilon_hat), whose spread does *not* shrink with n (0.78 sigma_U at 10 Hz):
a fraction 1 - Phi(theta / (0.78 sigma_U)) of the neurons (10 % for sigma_U = 1) has its mean
above threshold and fires regularly, the paper's S2 observation.

The measured per-neuron values carry measurement noise (finite simulated time) on top of the
weight-sampling spread.  Each setting is simulated twice with the same weights and
independent input spikes (two input seeds): the per-neuron average of the two halves is the
measurement, and var(half 1 - half 2)/4 its noise variance, subtracted in quadrature for the
"noise-corrected" spread.

Panels: (a) relative spread of sigma_i vs fan-in, (b) spread of mu_i vs fan-in, (c) the
distribution across neurons of the measured sigma_i for one setting against the predicted one,
(d) the distribution of the per-neuron xi_i = (theta - mu_i)/sigma_i for that setting: the
neurons outside the paper's band 1 <= xi <= 3, and those with xi_i < 0 (mean above threshold).

Units: U, mu, sigma and theta in threshold units; rates in Hz; time in s.
"""

from __future__ import annotations

import math

import numpy as np

from ._items import Context, Item, Need

__all__ = ["ITEMS", "expected_sigma_spread", "expected_mu_spread"]

NAME = "s2"
_TITLE = "spread of the membrane statistics across neurons from finite weight sampling (supplementary S2)"


def expected_sigma_spread(fan_in: int, sigma_u: float, factor: float = 1.0) -> float:
    """Expected across-neuron std of sigma_i for zero-mean Gaussian weights (threshold units).

    sigma_i = c sqrt(chi2_n / n) with c = sigma_u sqrt(factor) (``factor``: the Bernoulli
    variance factor 1 - nu dt, or 1 for Poisson counts), so its std is
    c sqrt(1 - (sqrt(2/n) Gamma((n+1)/2) / Gamma(n/2))**2) ~ c / sqrt(2n).
    """
    from scipy.stats import chi

    return float(sigma_u * math.sqrt(factor) * chi(fan_in).std() / math.sqrt(fan_in))


def expected_mu_spread(nu: float, sigma_u: float, epsilon_bar: float, epsilon_hat: float) -> float:
    """Expected across-neuron std of mu_i for zero-mean Gaussian weights at sigma_w of eq. 9.

    mu_i = nu epsilon_bar sum_j w_ij with sum_j w_ij ~ N(0, n sigma_w**2) and
    n sigma_w**2 = sigma_u**2 / (nu epsilon_hat): std sigma_u sqrt(nu) epsilon_bar / sqrt(epsilon_hat),
    independent of the fan-in.  Units: nu in Hz, epsilon in s, result in threshold units.
    """
    return float(sigma_u * math.sqrt(nu) * epsilon_bar / math.sqrt(epsilon_hat))


def settings(ctx: Context) -> dict:
    """The effective settings: fan-ins, targets, rate (Hz), sizes, durations (s), seed."""
    s = dict(seed=0, fan_ins=[20, 100, 700], sigma_us=[0.5, 1.0], nu=10.0, tau_mem=20e-3, tau_syn=10e-3, dt=2e-3,
             theta=1.0, n_neurons=256, trials=32, duration=4.0, hist_fan_in=20, hist_sigma_u=1.0, hist_bins=30)
    if ctx.tiny:
        s.update(fan_ins=[20, 100], n_neurons=48, trials=4, duration=1.0)
    elif ctx.quick:
        s.update(n_neurons=128, trials=8, duration=2.0)
    return s


def needs(ctx: Context, s: dict) -> list[Need]:
    """One in-process simulation (present when its cached data match these settings)."""
    from ._items import simulation_need

    n = len(s["fan_ins"]) * len(s["sigma_us"])
    return [simulation_need(ctx, NAME, s, f"simulation: {n} settings x {s['n_neurons']} free neurons, 2 x "
                            f"{s['trials']} trials x {s['duration']:g} s of Poisson input at {s['nu']:g} Hz")]


def _sweep(s: dict, fan_in: int, input_seed: int):
    """validation.sweep over the targets for one fan-in; the weights depend on ``s['seed']`` only."""
    from fluctinit import validation as V

    burn = V.burn_in_steps(s["tau_mem"], s["tau_syn"], s["dt"])
    src = V.poisson_source(fan_in, s["nu"], duration=s["duration"], trials=s["trials"], dt=s["dt"], burn_steps=burn,
                           batch_size=min(s["trials"], 16), seed=input_seed)
    return V.sweep(src, s["sigma_us"], n_neurons=s["n_neurons"], nu=s["nu"], tau_mem=s["tau_mem"],
                   tau_syn=s["tau_syn"], seed=s["seed"], hist_neurons=0)


def _std(x) -> float:
    return float(np.std(x, ddof=1))


def compute(ctx: Context, s: dict) -> dict:
    """Run the sweeps (twice per fan-in, independent input spikes) and return the plotted numbers."""
    from fluctinit import theory

    kern = theory.kernel_integrals(s["tau_mem"], s["tau_syn"], s["dt"], "discrete")
    factor = theory.bernoulli_variance_factor(s["nu"], s["dt"])
    in_seeds = [int(v) for v in np.random.SeedSequence([int(s["seed"]), 2]).generate_state(2)]
    rows, hist = [], None
    for n in s["fan_ins"]:
        halves = [_sweep(s, n, q) for q in in_seeds]
        for k, sig in enumerate(s["sigma_us"]):
            r1, r2 = halves[0][k], halves[1][k]
            p1, p2 = r1.per_neuron, r2.per_neuron
            if p1["sigma_u_predicted"] != p2["sigma_u_predicted"]:
                raise RuntimeError("the two halves of a setting must share their weights")
            s1, s2_ = np.asarray(p1["sigma_u"]), np.asarray(p2["sigma_u"])
            m1, m2 = np.asarray(p1["mu_u"]), np.asarray(p2["mu_u"])
            s_avg, m_avg = (s1 + s2_) / 2, (m1 + m2) / 2
            s_noise2, m_noise2 = np.var(s1 - s2_, ddof=1) / 4, np.var(m1 - m2, ddof=1) / 4
            sp, mp = np.asarray(p1["sigma_u_predicted"]), np.asarray(p1["mu_u_predicted"])
            rows.append(dict(
                fan_in=n, sigma_u=sig, sigma_w=float(_sigma_w(n, s, sig, kern)),
                sigma_spread_predicted=float(r1.sigma_u_spread_predicted),
                sigma_spread_expected=expected_sigma_spread(n, sig, factor),
                sigma_spread_measured=_std(s_avg), sigma_noise=float(math.sqrt(s_noise2)),
                sigma_spread_corrected=float(math.sqrt(max(_std(s_avg) ** 2 - s_noise2, 0.0))),
                sigma_mean_predicted=float(r1.sigma_u_predicted), sigma_mean_measured=float(np.mean(s_avg)),
                sigma_expected=float(r1.sigma_u_expected),
                mu_spread_predicted=float(r1.mu_u_spread_predicted),
                mu_spread_expected=expected_mu_spread(s["nu"], sig, kern.epsilon_bar, kern.epsilon_hat),
                mu_spread_measured=_std(m_avg), mu_noise=float(math.sqrt(m_noise2)),
                mu_spread_corrected=float(math.sqrt(max(_std(m_avg) ** 2 - m_noise2, 0.0))),
                frac_above_measured=float(np.mean(m_avg >= s["theta"])),
                frac_above_predicted=float(np.mean(mp >= s["theta"])),
                frac_above_expected=float(0.5 * math.erfc(s["theta"] / (math.sqrt(2) * expected_mu_spread(
                    s["nu"], sig, kern.epsilon_bar, kern.epsilon_hat)))),
                n_neurons=int(r1.n_neurons), n_values=int(2 * r1.n_samples * (r1.window[1] - r1.window[0])),
            ))
            if n == s["hist_fan_in"] and math.isclose(sig, s["hist_sigma_u"]):
                hist = dict(fan_in=n, sigma_u=sig, sigma_measured=s_avg.tolist(), sigma_predicted=sp.tolist(),
                            mu_measured=m_avg.tolist(), mu_predicted=mp.tolist(),
                            xi_measured=((s["theta"] - m_avg) / s_avg).tolist(),
                            xi_predicted=((s["theta"] - mp) / sp).tolist(), factor=factor)
    if hist is None:
        raise ValueError(f"`hist_fan_in` and `hist_sigma_u` must be among `fan_ins` and `sigma_us`; got "
                         f"{s['hist_fan_in']!r}, {s['hist_sigma_u']!r}")
    notes = [f"{s['n_neurons']} neurons per setting, each setting measured twice ({s['trials']} trials x "
             f"{s['duration']:g} s each, independent inputs, same weights); noise-corrected spread = "
             "sqrt(spread^2 - var(half1 - half2)/4)"]
    return dict(rows=rows, hist=hist, kernel=kern.as_dict(), bernoulli_factor=factor, notes=notes)


def _sigma_w(n: int, s: dict, sig: float, kern) -> float:
    from fluctinit import theory

    return theory.feedforward_params(n, s["nu"], sigma_u=sig, kernel=kern).sigma_w


def _legend(ax, s: dict, kinds: list[tuple[str, str, float]], extra: list, **kw) -> None:
    """One legend: the marker of each kind (grey) and the colour of each target."""
    from matplotlib.lines import Line2D

    from . import _style as S

    hs = list(extra)
    hs += [Line2D([], [], ls="none", marker=m, color="0.35", mfc="none" if m == "o" else "0.35", ms=ms, label=lab)
           for m, lab, ms in kinds]
    hs += [Line2D([], [], ls="none", marker="s", color=S.color(i), ms=4, label=rf"target $\sigma_U$ = {v:g}")
           for i, v in enumerate(s["sigma_us"])]
    ax.legend(handles=hs, **kw)


def plot(ctx: Context, s: dict, d: dict):
    """Four panels (a-d), see the module docstring; drawn from ``d`` alone."""
    from matplotlib.ticker import NullFormatter
    from scipy.stats import chi

    from . import _style as S

    fig = S.new_figure(S.PAGE, 4.6)
    gs = fig.add_gridspec(2, 2, left=0.075, right=0.985, bottom=0.09, top=0.95, wspace=0.22, hspace=0.38)
    rows = d["rows"]
    fans = sorted({r["fan_in"] for r in rows})
    nf = np.unique(np.round(np.geomspace(min(fans) * 0.8, max(fans) * 1.25, 100)).astype(int))
    off = {sig: f for sig, f in zip(s["sigma_us"], np.linspace(0.95, 1.05, len(s["sigma_us"])))}
    kinds = [("o", "theory, drawn weights (spread of eq. 2-3 per neuron)", 4), ("x", "measured (simulation)", 4)]
    # (a) sigma spread
    ax = fig.add_subplot(gs[0, 0])
    label = r"expected for $W \sim N(0, \sigma_W^2)$: std of $\sqrt{\chi^2_n/n}$ ($\approx 1/\sqrt{2n}$)"
    line = ax.plot(nf, [expected_sigma_spread(int(v), 1.0, d["bernoulli_factor"]) for v in nf], color="0.4", lw=0.9,
                   label=label)[0]
    for i, sig in enumerate(s["sigma_us"]):
        rr = [r for r in rows if math.isclose(r["sigma_u"], sig)]
        n = np.array([r["fan_in"] for r in rr]) * off[sig]
        c = S.color(i)
        ax.plot(n, [r["sigma_spread_predicted"] / sig for r in rr], "o", color=c, mfc="none", ms=4)
        ax.plot(n, [r["sigma_spread_measured"] / sig for r in rr], "x", color=c, ms=4)
        ax.plot(n, [r["sigma_spread_corrected"] / sig for r in rr], "+", color=c, ms=6)
    S.log_axis(ax, "x")
    S.log_axis(ax, "y")
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks([0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    vals = [r[k] / r["sigma_u"] for r in rows for k in ("sigma_spread_predicted", "sigma_spread_measured")]
    ax.set_ylim(min(vals) * 0.6, max(vals) * 1.6)
    ax.set_xlabel("fan-in n")
    ax.set_ylabel(r"spread of $\sigma_i$ / $\sigma_U$ (std across neurons)")
    _legend(ax, s, kinds + [("+", "measured, noise-corrected", 6)], [line], fontsize=5, loc="lower left")
    S.panel_label(ax, "a", r"spread of the per-neuron $\sigma_i$ across neurons")
    # (b) mu spread
    ax = fig.add_subplot(gs[0, 1])
    kern = d["kernel"]
    e_mu = expected_mu_spread(s["nu"], 1.0, kern["epsilon_bar"], kern["epsilon_hat"])
    label = (r"expected for $W \sim N(0, \sigma_W^2)$: $\sqrt{\nu}\,\bar\epsilon/\sqrt{\hat\epsilon}$"
             f" = {e_mu:.2f}")
    line = ax.axhline(e_mu, color="0.4", lw=0.9, label=label)
    for i, sig in enumerate(s["sigma_us"]):
        rr = [r for r in rows if math.isclose(r["sigma_u"], sig)]
        n = np.array([r["fan_in"] for r in rr]) * off[sig]
        c = S.color(i)
        ax.plot(n, [r["mu_spread_predicted"] / sig for r in rr], "o", color=c, mfc="none", ms=4)
        ax.plot(n, [r["mu_spread_measured"] / sig for r in rr], "x", color=c, ms=4)
    S.log_axis(ax, "x")
    ax.set_xlim(nf[0], nf[-1])
    ax.set_ylim(0, e_mu * 1.7)
    ax.set_xlabel("fan-in n")
    ax.set_ylabel(r"spread of $\mu_i$ / $\sigma_U$ (std across neurons)")
    _legend(ax, s, kinds, [line], fontsize=5, loc="lower left", ncol=2)
    S.panel_label(ax, "b", rf"spread of the per-neuron $\mu_i$ ($\nu$ = {s['nu']:g} Hz)")
    # (c) distribution of sigma_i
    h = d["hist"]
    ax = fig.add_subplot(gs[1, 0])
    sm, spr = np.asarray(h["sigma_measured"]), np.asarray(h["sigma_predicted"])
    lo, hi = min(sm.min(), spr.min()), max(sm.max(), spr.max())
    edges = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), s["hist_bins"] + 1)
    ax.hist(sm, bins=edges, density=True, color=S.color(0), alpha=0.45, label="measured (simulation)")
    ax.hist(spr, bins=edges, density=True, histtype="step", color=S.color(1), lw=1.0,
            label="theory, drawn weights (eq. 3 per neuron)")
    c = h["sigma_u"] * math.sqrt(h["factor"])
    xs = np.linspace(edges[0], edges[-1], 300)
    n = h["fan_in"]
    ax.plot(xs, chi(n).pdf(xs * math.sqrt(n) / c) * math.sqrt(n) / c, color="0.3", lw=0.9,
            label=rf"expected: $\sigma_U\sqrt{{1-\nu\,dt}}\,\sqrt{{\chi^2_{{{n}}}/{n}}}$")
    ax.axvline(h["sigma_u"], color="k", ls="--", lw=0.7, label=rf"target $\sigma_U$ = {h['sigma_u']:g}")
    ax.set_xlabel(r"per-neuron $\sigma_i$ ($\theta$ units)")
    ax.set_ylabel(r"density across neurons (1/$\theta$)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(fontsize=5, loc="upper left")
    S.panel_label(ax, "c", rf"distribution of $\sigma_i$ across {len(sm)} neurons, n = {n}")
    # (d) distribution of xi_i
    ax = fig.add_subplot(gs[1, 1])
    xm, xp = np.asarray(h["xi_measured"]), np.asarray(h["xi_predicted"])
    xi_t = s["theta"] / h["sigma_u"]
    lo, hi = min(xm.min(), xp.min(), -0.5), max(xm.max(), xp.max(), 3.5)
    edges = np.linspace(lo, hi, s["hist_bins"] + 1)
    ax.axvspan(1, 3, color="0.92", lw=0, label=r"1 $\leq \xi \leq$ 3 (the paper's regime)")
    ax.hist(xm, bins=edges, color=S.color(0), alpha=0.45, label="measured (simulation)")
    ax.hist(xp, bins=edges, histtype="step", color=S.color(1), lw=1.0, label="theory, drawn weights (eqs. 2-3)")
    ax.axvline(xi_t, color="k", ls="--", lw=0.7, label=rf"target $\xi$ = {xi_t:g}")
    ax.axvline(0, color=S.color(3), ls=":", lw=0.9, label=r"$\xi_i$ = 0: mean at threshold")
    rr = next(r for r in rows if r["fan_in"] == h["fan_in"] and math.isclose(r["sigma_u"], h["sigma_u"]))
    ax.text(0.99, 0.6, rf"$\mu_i \geq \theta$ ($\xi_i \leq 0$, regular firing):" "\n"
            rf"measured {100 * rr['frac_above_measured']:.1f}%, theory {100 * rr['frac_above_predicted']:.1f}%," "\n"
            rf"expected 1 - $\Phi(\theta/({e_mu:.2f}\,\sigma_U))$ = {100 * rr['frac_above_expected']:.1f}%",
            transform=ax.transAxes, va="top", ha="right", fontsize=5.5)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.4)
    ax.set_xlabel(r"per-neuron $\xi_i$ = ($\theta - \mu_i)/\sigma_i$")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=5, loc="upper right")
    S.panel_label(ax, "d", rf"distance to threshold $\xi_i$ across neurons, n = {n}, $\sigma_U$ = {h['sigma_u']:g}")
    return fig


ITEMS = {NAME: Item(NAME, _TITLE, settings, needs, compute, plot)}
