"""Paper figure 1(a-c) and supplementary S1: the fluctuation-driven regime of one LIF neuron.

A current-based LIF neuron (paper eqs. 10-11, table 3: tau_mem 20 ms, tau_syn 10 ms, dt 2 ms,
threshold theta) receives ``fan_in`` = n independent homogeneous Poisson inputs at rate nu
(spike counts per step, ``fluctinit.sim.poisson_spikes(mode="count")``, so that eqs. 2-3 hold
exactly).  Its weights come from the theory: ``W ~ N(mu_w, sigma_w**2)`` with eqs. 6-9
(``fluctinit.sim.fluctuation_normal_``; ``theory.feedforward_params``), i.e.

    mu_U = n mu_W nu epsilon_bar,   sigma_U**2 = n (sigma_W**2 + mu_W**2) nu epsilon_hat  (eqs. 4-5)
    xi = (theta - mu_U) / sigma_U                                                         (eq. 8)

Each drawn weight vector is centred (its sample mean set to mu_w): with zero-mean Gaussian
weights a single neuron's own mean mu_i = nu epsilon_bar sum_j w_ij scatters across neurons by
sigma_U sqrt(nu epsilon_bar**2 / epsilon_hat) (0.78 sigma_U at 10 Hz, whatever n), the subject
of supplementary S2 (item ``s2``); here the neuron sits at its target mean, and its own
sigma_i**2 = nu epsilon_hat sum_j w_ij**2 (eq. 3, ``theory.membrane_moments_from_weights``)
differs from the target only by the finite-n sampling of the weights (~ 1/sqrt(2n)).

The neuron is simulated by :mod:`fluctinit.sim` (``lif_dense`` of the current backend), once
as the free membrane (mode ``"free"``: no threshold, no reset) and once with threshold and
reset (mode ``"reset"``, eq. 10), with the same inputs and weights; the first
``validation.burn_in_steps`` steps (the transient from U = I = 0) are dropped.

Panels:

* (a) figure 1(a): the membrane trace U(t) over ``trace_duration`` seconds, free and with
  reset (spikes marked), the threshold and the target band mu_U +- sigma_U.
* (b) figure 1(b), S1: the free-membrane density for xi in ``xis`` (1, 2, 3: the paper's band
  1 <= xi <= 3; mu_U = 0, so sigma_U = theta/xi) against the neuron's predicted Gaussian
  N(mu_i, sigma_i**2); the threshold lies xi standard deviations above the mean, and the
  mass above it is 1 - Phi(xi).
* (c) figure 1(c): firing rate as sigma_U grows (mu_U = 0): the simulated rate with threshold
  and reset against the no-reset prediction, the rate of upward threshold crossings of the
  free Gaussian membrane (simulated, and predicted: the discrete-time formula of
  :func:`fluctinit.theory.upcrossing_rate`; Rice's continuous-time formula
  :func:`fluctinit.theory.rice_rate` alongside).
* (d) figure 1(c), continued: the membrane mean and std with reset against the free
  prediction.  The paper's point: for sigma_U << theta the reset is negligible (rates and
  moments agree with the free theory); for larger sigma_U it matters (a neuron with reset
  fires repeatedly during each supra-threshold excursion, so its rate exceeds the crossing
  rate, and the reset pulls the membrane's mean and std below the free prediction).
* (c, d) also show, beyond the paper, the rate, mean and std with reset that
  :func:`fluctinit.theory.lif_stationary` predicts (the discrete update's stationary state).
* (e) beyond the paper: the membrane density with reset at ``reset_sigma_us`` (pooled over the
  target's neurons) against :func:`fluctinit.theory.lif_stationary`'s.

Units: time in s, rates in Hz, U, mu_U, sigma_U and theta in threshold units.
"""

from __future__ import annotations

import math

import numpy as np

from fluctinit.theory import lag_correlation, rice_rate, upcrossing_rate

from ._items import Context, Item, Need

__all__ = ["ITEMS"]

NAME = "fig1"
_TITLE = "the fluctuation-driven regime: membrane distribution and the effect of the reset"


# --------------------------------------------------------------------------------------
# settings and needs


def settings(ctx: Context) -> dict:
    """The effective settings: fan-in, rate, time constants (s), targets, sizes, seed."""
    s = dict(
        seed=0, fan_in=500, nu=10.0, tau_mem=20e-3, tau_syn=10e-3, dt=2e-3, theta=1.0, mu_u=0.0,
        sigma_us=[0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0], xis=[1.0, 2.0, 3.0],
        trace_sigma_u=0.5, trace_duration=1.0, n_neurons=64, trials=16, duration=5.0, hist_bins=60,
        hist_width=5.0, reset_sigma_us=[0.3, 1.0, 3.0],
    )
    if ctx.tiny:
        s.update(fan_in=200, n_neurons=4, trials=4, duration=1.0, sigma_us=[0.1, 0.5, 1.0, 3.0], reset_sigma_us=[1.0])
    elif ctx.quick:
        s.update(n_neurons=16, trials=8, duration=2.0)
    return s


def needs(ctx: Context, s: dict) -> list[Need]:
    """One in-process simulation (present when its cached data match these settings)."""
    from ._items import simulation_need

    n_targets = len(_targets(s))
    return [simulation_need(ctx, NAME, s, f"simulation: {n_targets} targets x {s['n_neurons']} LIF neurons, "
                            f"{s['trials']} trials x {s['duration']:g} s, {s['fan_in']} Poisson inputs at {s['nu']:g} Hz")]


def _targets(s: dict) -> list[float]:
    """Every target sigma_u simulated: the sweep, those of the xis, the trace's, the densities
    with reset (in order)."""
    out: list[float] = []
    for v in [*s["sigma_us"], *[(s["theta"] - s["mu_u"]) / x for x in s["xis"]], s["trace_sigma_u"],
              *s["reset_sigma_us"]]:
        if not any(math.isclose(v, t) for t in out):
            out.append(float(v))
    return out


def _index(targets: list[float], v: float) -> int:
    return next(i for i, t in enumerate(targets) if math.isclose(t, v))


# --------------------------------------------------------------------------------------
# computation


def _batch_moments(u):
    """Per trial b and neuron i of ``u`` ``(trials, time, neurons)`` (float64 numpy): the
    variance about the neuron's pooled mean, v_bi, and the pooled mean M_i."""
    m = u.mean(axis=(0, 1))
    v = ((u - m) ** 2).mean(axis=1)
    return v, m


def compute(ctx: Context, s: dict) -> dict:
    """Simulate the neuron populations and return the plotted numbers (see the module docstring)."""
    import torch

    from fluctinit import theory
    from fluctinit.sim import NeuronParams, dispatch, fluctuation_normal_, poisson_spikes
    from fluctinit.validation import burn_in_steps

    dt, theta, mu_u, nu, n = s["dt"], s["theta"], s["mu_u"], s["nu"], s["fan_in"]
    kern = theory.kernel_integrals(s["tau_mem"], s["tau_syn"], dt, "discrete")
    burn = burn_in_steps(s["tau_mem"], s["tau_syn"], dt)
    steps = int(round(s["duration"] / dt))
    wseed, xseed = (int(v) for v in np.random.SeedSequence(int(s["seed"])).generate_state(2))
    gw, gx = torch.Generator().manual_seed(wseed), torch.Generator().manual_seed(xseed)
    x = poisson_spikes(s["trials"], burn + steps, n, nu, dt, mode="count", generator=gx)
    run = dispatch("lif_dense")
    free_p = NeuronParams(s["tau_mem"], s["tau_syn"], dt, theta, "free")
    reset_p = NeuronParams(s["tau_mem"], s["tau_syn"], dt, theta, "reset")
    rho = lag_correlation(s["tau_mem"], s["tau_syn"], dt)
    targets = _targets(s)
    trace_k = _index(targets, s["trace_sigma_u"])
    hist_k = [_index(targets, (theta - mu_u) / xi) for xi in s["xis"]]
    reset_k = [_index(targets, v) for v in s["reset_sigma_us"]]
    B, T = s["trials"], steps

    def se(v):  # standard error of a mean over the B independent trials
        return float(np.std(v, ddof=1) / math.sqrt(B)) if B > 1 else float("nan")

    rows, hists, reset_hists, trace = [], {}, {}, None
    for k, sig in enumerate(targets):
        st = theory.lif_stationary(mu_u, sig, tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], dt=dt, theta=theta)
        prm = theory.feedforward_params(n, nu, sigma_u=sig, mu_u=mu_u, theta=theta, kernel=kern)
        w = fluctuation_normal_(torch.empty(s["n_neurons"], n), nu, sigma_u=sig, mu_u=mu_u, theta=theta, kernel=kern,
                                generator=gw)
        w += prm.mu_w - w.mean(dim=1, keepdim=True)  # centred: each neuron at its target mean
        mu_i, sig_i = theory.membrane_moments_from_weights(w.double().numpy(), nu, kern)
        xi_i = (theta - mu_i) / sig_i
        with torch.no_grad():
            _, uf = run(x, w, params=free_p)
            sp, ur = run(x, w, params=reset_p)
        uf = uf[:, burn:].double().numpy()
        ur = ur[:, burn:].double().numpy()
        sp = sp[:, burn:].double().numpy()
        vf, mf = _batch_moments(uf)
        vr, mr = _batch_moments(ur)
        # free std relative to each neuron's own prediction: q_bi = v_bi / sigma_i**2
        q = vf / sig_i ** 2
        q_b = q.mean(axis=1)
        ratio = math.sqrt(float(q.mean()))
        ratio_se = float(np.std(q_b, ddof=1) / math.sqrt(B) / (2 * ratio)) if B > 1 else float("nan")
        rate_b = sp.sum(axis=1).mean(axis=1) / (T * dt)  # per trial, mean over neurons (Hz)
        up = ((uf[:, :-1] < theta) & (uf[:, 1:] >= theta)).sum(axis=1)
        up_b = up.mean(axis=1) / ((T - 1) * dt)

        rows.append(dict(
            sigma_u=sig, xi=(theta - mu_u) / sig, sigma_w=float(prm.sigma_w), mu_w=float(prm.mu_w),
            sigma_pred=float(np.mean(sig_i)), sigma_pred_spread=float(np.std(sig_i, ddof=1)) if len(sig_i) > 1 else 0.0,
            mu_pred=float(np.mean(mu_i)),
            std_free=float(np.mean(np.sqrt(vf.mean(axis=0)))), std_free_ratio=ratio, std_free_ratio_se=ratio_se,
            mean_free=float(np.mean(mf)), mean_free_se=se(uf.mean(axis=(1, 2))),
            std_reset=float(np.mean(np.sqrt(vr.mean(axis=0)))), mean_reset=float(np.mean(mr)),
            mean_reset_se=se(ur.mean(axis=(1, 2))),
            mean_shift=float(np.mean(mr) - np.mean(mf)), mean_shift_se=se(ur.mean(axis=(1, 2)) - uf.mean(axis=(1, 2))),
            rate_reset=float(rate_b.mean()), rate_reset_se=se(rate_b),
            rate_up_free=float(up_b.mean()), rate_up_free_se=se(up_b),
            rate_up_pred=float(np.mean(upcrossing_rate(xi_i, rho, dt))),
            rate_rice=float(np.mean(rice_rate(xi_i, s["tau_mem"], s["tau_syn"]))),
            n_spikes=int(sp.sum()),
            rate_grid=st.rate, mean_grid=st.mean, std_grid=st.std,
        ))
        if k in reset_k:  # the membrane with reset, pooled over the target's neurons, and its prediction
            vals = ur.ravel()
            edges = np.linspace(min(vals.min(), st.u[0]), max(vals.max(), theta), s["hist_bins"] + 1)
            dens, _ = np.histogram(vals, bins=edges)
            keep = st.density > 1e-7 * st.density.max()
            du = float(st.u[1] - st.u[0])
            reset_hists[k] = dict(sigma_u=sig, edges=edges.tolist(), density=(dens / (vals.size * np.diff(edges))).tolist(),
                                  u_pred=st.u[keep].tolist(), density_pred=(st.density[keep] / du).tolist(),
                                  mean=float(vals.mean()), std=float(vals.std()), mean_pred=st.mean, std_pred=st.std,
                                  above=float(np.mean(vals > theta)), above_pred=float(st.density[st.u > theta].sum()))
        if k in hist_k:
            j = 0  # the first neuron of the target's population
            vals = uf[:, :, j].ravel()
            edges = np.linspace(mu_i[j] - s["hist_width"] * sig_i[j], mu_i[j] + s["hist_width"] * sig_i[j],
                                s["hist_bins"] + 1)
            dens, _ = np.histogram(vals, bins=edges, density=False)
            dens = dens / (vals.size * np.diff(edges))
            hists[k] = dict(xi=s["xis"][hist_k.index(k)], sigma_u=sig, edges=edges.tolist(), density=dens.tolist(),
                              mu_pred=float(mu_i[j]), sigma_pred=float(sig_i[j]), xi_pred=float(xi_i[j]),
                              mu_measured=float(vals.mean()), sigma_measured=float(vals.std()),
                              above_measured=float(np.mean(vals >= theta)),
                              above_pred=float(0.5 * math.erfc(xi_i[j] / math.sqrt(2))))
        if k == trace_k:
            m = min(T, int(round(s["trace_duration"] / dt)))
            trace = dict(sigma_u=sig, t=(np.arange(m) * dt).tolist(), u_free=uf[0, :m, 0].tolist(),
                         u_reset=ur[0, :m, 0].tolist(), spikes=(np.nonzero(sp[0, :m, 0])[0] * dt).tolist(),
                         mu_pred=float(mu_i[0]), sigma_pred=float(sig_i[0]))
    sweep = [rows[_index(targets, v)] for v in s["sigma_us"]]
    notes = [f"each neuron's drawn weights are centred (sample mean set to mu_w), so its mean is the target; "
             f"{s['n_neurons']} neurons per target, {B} trials x {s['duration']:g} s after {burn} burn-in steps",
             "inputs: Poisson spike counts per step (eqs. 2-3 exact); rates with reset above the no-reset "
             "crossing rate at large sigma_u: repeated firing during supra-threshold excursions"]
    return dict(trace=trace, hists=[hists[k] for k in hist_k], sweep=sweep, rho=rho, burn_steps=burn,
                reset_hists=[reset_hists[k] for k in reset_k], kernel=kern.as_dict(), notes=notes)


# --------------------------------------------------------------------------------------
# plot


def plot(ctx: Context, s: dict, d: dict):
    """Five panels (a-e), see the module docstring; drawn from ``d`` alone."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from . import _plots as P
    from . import _style as S

    theta, mu_u = s["theta"], s["mu_u"]
    fig = S.new_figure(S.PAGE, 4.4)
    gs = fig.add_gridspec(2, 3, width_ratios=[1.0, 1.0, 1.0], left=0.07, right=0.985, bottom=0.1, top=0.95,
                          wspace=0.32, hspace=0.5)
    # (a) trace
    ax = fig.add_subplot(gs[0, :2])
    tr = d["trace"]
    t = np.asarray(tr["t"])
    mu, sd = tr["mu_pred"], tr["sigma_pred"]
    ax.axhspan(mu - sd, mu + sd, color="0.9", lw=0, label=r"predicted $\mu_i \pm \sigma_i$ (eqs. 2-3)")
    ax.plot(t, tr["u_free"], color=S.color(0), lw=0.9, label="free membrane (no threshold, no reset)")
    ax.plot(t, tr["u_reset"], color=S.color(1), lw=0.7, label="with threshold and reset (eq. 10)")
    ax.axhline(theta, color="k", ls="--", lw=0.7, label=r"threshold $\theta$")
    top = theta + 1.2 * sd
    if tr["spikes"]:
        ax.plot(tr["spikes"], np.full(len(tr["spikes"]), top + 0.9 * sd), "|", color=S.color(3), ms=6, mew=1.0,
                label=f"spikes ({len(tr['spikes'])}, with reset)")
    ax.set_xlabel("time t (s)")
    ax.set_ylabel(r"membrane U ($\theta$ units)")
    ax.set_xlim(t[0], t[-1] + (t[1] - t[0]))
    lo = min(min(tr["u_free"]), min(tr["u_reset"]))
    ax.set_ylim(min(lo, mu - 3 * sd) - 0.1 * sd, top + 2.8 * sd)
    ax.legend(loc="upper left", ncol=3, fontsize=5.5)
    xi_t = (theta - mu_u) / tr["sigma_u"]
    S.panel_label(ax, "a", rf"one LIF neuron, {s['fan_in']} Poisson inputs at {s['nu']:g} Hz; target "
                           rf"$\mu_U$ = {mu_u:g}, $\sigma_U$ = {tr['sigma_u']:g} ($\xi$ = {xi_t:g})")
    # (b) membrane densities
    ax = fig.add_subplot(gs[0, 2])
    smax = max(h["sigma_pred"] for h in d["hists"])
    xs = np.linspace(mu_u - 4 * smax, max(theta + 0.6 * smax, mu_u + 3.5 * smax), 400)
    for i, h in enumerate(d["hists"]):
        c = S.color(i)
        ax.stairs(h["density"], np.asarray(h["edges"]), color=c, lw=0.9,
                  label=rf"$\xi$ = {h['xi']:g}: P(U $\geq \theta$) = {h['above_measured']:.2g} "
                        rf"(pred. {h['above_pred']:.2g})")
        ax.plot(xs, P.gaussian(xs, h["mu_pred"], h["sigma_pred"]), color=c, ls="--", lw=0.8)
    ax.axvline(theta, color="k", ls=":", lw=0.8)
    ymax = max(max(h["density"]) for h in d["hists"])
    ax.set_ylim(0, ymax * 1.9)
    ax.text(theta, ymax * 0.9, r" $\theta$", va="bottom", ha="left", fontsize=6)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_xlabel(r"free membrane U ($\theta$ units)")
    ax.set_ylabel(r"density (1/$\theta$)")
    handles, _ = ax.get_legend_handles_labels()
    extra = [Line2D([], [], color="0.3", lw=0.9, label="measured (histogram, one neuron)"),
             Line2D([], [], color="0.3", ls="--", lw=0.8, label=r"predicted N($\mu_i$, $\sigma_i^2$)")]
    ax.legend(handles=extra + handles, loc="upper left", fontsize=4.8)
    S.panel_label(ax, "b", r"free membrane, $\sigma_U = (\theta - \mu_U)/\xi$")
    # (c) rates
    ax = fig.add_subplot(gs[1, 0])
    sw = d["sweep"]
    sig = np.array([r["sigma_u"] for r in sw])
    band = dict(color="0.92", lw=0)
    ax.axvspan((theta - mu_u) / 3, (theta - mu_u) / 1, **band, label=r"1 $\leq \xi \leq$ 3")

    def pos(v):
        v = np.asarray(v, dtype=float)
        return np.where(v > 0, v, np.nan)

    fine = np.geomspace(sig.min(), sig.max(), 200)
    xi_f = (theta - mu_u) / fine
    ax.plot(fine, upcrossing_rate(xi_f, d["rho"], s["dt"]), color=S.color(0), lw=1.0,
            label="no reset: Gaussian theory")
    ax.plot(fine, rice_rate(xi_f, s["tau_mem"], s["tau_syn"]), color=S.color(2), ls=":", lw=1.0,
            label="no reset: Rice (cont. time)")
    ax.errorbar(sig, pos([r["rate_up_free"] for r in sw]), yerr=[r["rate_up_free_se"] for r in sw], fmt="s",
                color=S.color(0), ms=3, lw=0.8, mfc="none", label="no reset: crossings (sim.)")
    ax.errorbar(sig, pos([r["rate_reset"] for r in sw]), yerr=[r["rate_reset_se"] for r in sw], fmt="o",
                color=S.color(1), ms=3, lw=0.8, label="with reset (sim.)")
    ax.plot(sig, pos([r["rate_grid"] for r in sw]), color=S.color(1), lw=1.0, ls="--", label="with reset: lif_stationary")
    S.log_axis(ax, "x")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, max(max(r["rate_reset"] for r in sw), 20.0) * 3)
    ax.set_xlabel(r"target $\sigma_U$ ($\theta$ units; $\mu_U$ = 0)")
    ax.set_ylabel("firing rate (Hz)")
    ax.legend(loc="lower right", fontsize=4.6)
    def inv(v):  # sigma_u <-> xi = (theta - mu_u)/sigma_u, its own inverse
        return (theta - mu_u) / np.maximum(v, 1e-12)

    sec = ax.secondary_xaxis("top", functions=(inv, inv))
    sec.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    sec.set_xlabel(r"$\xi$", labelpad=1)
    S.panel_label(ax, "c", "firing rate with and without reset")
    ax.title.set_y(1.12)
    # (d) moments with reset
    ax = fig.add_subplot(gs[1, 1])
    ax.axvspan((theta - mu_u) / 3, (theta - mu_u) / 1, **band)
    ax.plot(sig, [r["sigma_pred"] for r in sw], color=S.color(0), lw=1.0, label=r"std: free theory $\sigma_i$ (eq. 3)")
    ax.plot(sig, [r["std_free"] for r in sw], "s", color=S.color(0), ms=3, mfc="none", label="std: free (sim.)")
    ax.plot(sig, [r["std_reset"] for r in sw], "o", color=S.color(1), ms=3, label="std: with reset (sim.)")
    ax.plot(sig, [r["mu_pred"] for r in sw], color=S.color(2), lw=1.0, label=r"mean: free theory $\mu_i$ (eq. 2)")
    ax.plot(sig, [r["mean_free"] for r in sw], "s", color=S.color(2), ms=3, mfc="none", label="mean: free (sim.)")
    ax.plot(sig, [r["mean_reset"] for r in sw], "^", color=S.color(3), ms=3, label="mean: with reset (sim.)")
    ax.plot(sig, [r["std_grid"] for r in sw], color=S.color(1), ls="--", lw=1.0, label="std with reset: lif_stationary")
    ax.plot(sig, [r["mean_grid"] for r in sw], color=S.color(3), ls="--", lw=1.0, label="mean with reset: lif_stationary")
    S.log_axis(ax, "x")
    ax.set_xlabel(r"target $\sigma_U$ ($\theta$ units; $\mu_U$ = 0)")
    ax.set_ylabel(r"membrane mean, std ($\theta$ units)")
    ax.legend(loc="upper left", fontsize=5)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.75 * (hi - lo))  # the legend above the curves
    S.panel_label(ax, "d", "membrane moments with reset")
    # (e) the membrane with reset: simulated density against lif_stationary's
    ax = fig.add_subplot(gs[1, 2])
    hs = d["reset_hists"]
    for i, h in enumerate(hs):
        c = S.color((3, 5, 0)[i % 3])
        ax.stairs(h["density"], np.asarray(h["edges"]), color=c, lw=0.9,
                  label=rf"$\sigma_U$ = {h['sigma_u']:g}: mean {h['mean']:.2f} (pred. {h['mean_pred']:.2f}), "
                        rf"std {h['std']:.2f} ({h['std_pred']:.2f})")
        ax.plot(h["u_pred"], h["density_pred"], color=c, ls="--", lw=0.8)
    ax.axvline(theta, color="k", ls=":", lw=0.8)
    ax.set_yscale("log")
    tops = [max(h["density"]) for h in hs]
    ax.set_ylim(1e-3 * min(tops), 3e3 * max(tops))  # the legend above the densities
    lows = [e for h in hs for e, v in zip(h["edges"], h["density"]) if v > 0]  # where the simulation has mass
    ax.set_xlim(min(lows), max(h["edges"][-1] for h in hs))
    ax.set_xlabel(r"membrane U with reset ($\theta$ units; $\mu_U$ = 0)")
    ax.set_ylabel(r"density (1/$\theta$)")
    extra = [Line2D([], [], color="0.3", lw=0.9, label="simulated (all neurons)"),
             Line2D([], [], color="0.3", ls="--", lw=0.8, label="lif_stationary (discrete update, Gaussian input)")]
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=extra + handles, loc="upper left", fontsize=4.4)
    S.panel_label(ax, "e", "membrane with reset, predicted")
    return fig


ITEMS = {NAME: Item(NAME, _TITLE, settings, needs, compute, plot)}
