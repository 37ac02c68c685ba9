"""The cochlear model that made SHD (Cramer et al. 2022, arXiv 1910.07407), vectorized.

SHD's spikes came from recorded speech through a chain of five stages, published by SHD's
authors as the package ``lauscher``.  This module computes the same stage equations with the
same parameters, array-wide instead of in per-channel Python loops (``lauscher`` itself is only
a reference in the test suite, which holds every stage here to its output):

1. **RMS normalization** to ``RMS_LEVEL`` = 0.3 (full scale 1).
2. **Hanning ramps**: the first half of the track is multiplied by the rising half of a
   Hanning window of twice its length, the second half by the falling half.
3. **Basilar membrane** (Sieroka, Dosch & Rupp 2006, hydrodynamic shallow-water model): for
   channel positions ``c`` in ``linspace(0, c_max, channels)`` the membrane velocity is
   ``v(t, c) = Re IFFT[V(w, c) S(w)]`` over the first ``N//2 + 1`` FFT bins ``S`` of the
   ``N`` audio samples, with angular frequencies ``w = 2 pi linspace(1, fs//2, N//2 + 1)``.
   The result has ``N//2 + 1`` samples at the rate ``fs//2`` (lauscher's convention).
   ``V = 2 w / xi(w, c) * P(w, c) * Z(w) / P(w, 0)``, with stiffness
   ``s(c) = c0 exp(-alpha c) - a``, damping ``r(c) = de sqrt(c0 m) exp(-alpha c / 2)``,
   ``xi = s - m w^2 - i w r``, ``g = w sqrt(rho / (h xi))``, the WKB pressure
   ``P = sqrt(G / g) H0(G)`` (``H0``: Hankel function of the first kind) with the phase
   integral ``G(w, c)`` in closed form, and the stapes impedance ``Z(w)`` from Bessel
   functions of ``k = 4 pi f / alpha sqrt(2 / (h c0))``, ``f = w / 2 pi``.
   ``Z(w)`` and ``P(w, 0)`` are channel-independent and computed once.
4. **Inner hair cells** (Meddis 1986, 1988, transmitter-pool model): per channel, with
   permeability ``k(t) = g (v + A) / (v + A + B)`` (0 where ``v + A <= 0``), the free pool
   ``q``, cleft ``c`` and reprocessing store ``w`` step forward explicitly at ``dt = 2/fs``:
   ``q += y (M - q) dt [q < M] - k q dt + x w dt``, ``c += k q dt - (l + r) c dt``,
   ``w += r c dt - x w dt`` (each clipped at 0, all from the previous values), starting at
   the steady state of ``v = 0``; the release probability per step is ``c h dt``.
5. **Bushy cells**: per channel, ``n_convergence`` = 40 auditory-nerve fibres each fire in a
   step with the hair cell's probability unless within ``tau_refrac`` of their last spike;
   their spikes drive a leaky integrate-and-fire cell (``tau_syn`` exponential synaptic current,
   ``tau_mem`` membrane, weight ``weight / n_convergence``, threshold 1, membrane clipped at 1,
   ``tau_refrac`` of silence after a spike), whose spikes are the output.  The cell only sees
   the *number* of fibre spikes per step; the fibres are exchangeable, so that number is drawn
   exactly as ``Binomial(available fibres, p)``, where the available fibres are those without
   a spike in the last ``ceil(tau_refrac fs) - 1`` steps: one draw per (channel, step) instead
   of forty.  The draws come from the caller's ``numpy.random.Generator``.

Stage 3 costs ``channels x N/2`` complex Hankel-function evaluations (about 0.3 s per FSDD
recording at 700 channels); stages 4 and 5 are compiled loops (numba) over channels and steps.

Shapes: audio ``(N,)``; membrane velocity and release probability ``(channels, N//2 + 1)``;
spikes as flat ``(times, units)`` arrays sorted by time, then unit (times in seconds, multiples
of ``1/(fs//2)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "RMS_LEVEL",
    "BasilarMembrane",
    "HairCell",
    "BushyCell",
    "Cochlea",
    "rms_normalize",
    "hanning_ramps",
    "basilar_membrane",
    "hair_cells",
    "fibre_spike_counts",
    "bushy_cell_spikes",
    "cochlea_spikes",
]

#: RMS level the audio is normalized to before the cochlea (lauscher's Wave2Spike: 0.3).
RMS_LEVEL = 0.3


@dataclass(frozen=True)
class BasilarMembrane:
    """Basilar-membrane parameters (SI-free model units of Sieroka et al. 2006; lauscher's defaults)."""

    channels: int = 700
    a: float = 3500.0
    alpha: float = 3.0
    rho: float = 1.0
    c_max: float = 3.5
    c0: float = 10e8
    de: float = 0.15
    h: float = 0.1
    m: float = 0.05


@dataclass(frozen=True)
class HairCell:
    """Meddis hair-cell parameters (rates in 1/s; lauscher's defaults)."""

    y: float = 5.05
    g: float = 2000.0
    l: float = 2500.0  # noqa: E741 (the model's name)
    r: float = 6580.0
    x: float = 66.3
    a: float = 5.0
    b: float = 300.0
    h: float = 50000.0
    m: float = 1.0


@dataclass(frozen=True)
class BushyCell:
    """Bushy-cell parameters (times in seconds; ``weight`` is split over the fibres)."""

    n_convergence: int = 40
    tau_mem: float = 1e-3
    tau_syn: float = 5e-4
    tau_refrac: float = 1e-3
    weight: float = 13e3


@dataclass(frozen=True)
class Cochlea:
    """The whole chain's parameters (SHD's settings by default)."""

    membrane: BasilarMembrane = BasilarMembrane()
    hair: HairCell = HairCell()
    bushy: BushyCell = BushyCell()
    rms_level: float = RMS_LEVEL


def rms_normalize(samples: np.ndarray, level: float = RMS_LEVEL) -> np.ndarray:
    """``samples`` scaled to RMS ``level`` (a new float64 array)."""
    x = np.asarray(samples, dtype=np.float64)
    return x * (level / np.sqrt(np.mean(x ** 2)))


def hanning_ramps(samples: np.ndarray) -> np.ndarray:
    """Hanning ramps over each half of the track (stage 2; a new array)."""
    x = np.array(samples, dtype=np.float64)
    half = x.shape[0] // 2
    ramp = np.hanning(2 * half)[:half]
    x[:half] = ramp * x[:half]
    x[x.shape[0] - half:] = ramp[::-1] * x[x.shape[0] - half:]
    return x


def _membrane_transfer(omega: np.ndarray, p: BasilarMembrane) -> np.ndarray:
    """``V(w, c)`` of stage 3, shape ``(channels, len(omega))``."""
    a, al, m, h, c0 = p.a, p.alpha, p.m, p.h, p.c0
    r0 = p.de * np.sqrt(c0 * m)
    w = omega[None, :]
    c = np.linspace(0, p.c_max, p.channels)[:, None]

    def xi(cc):
        return (c0 * np.exp(-al * cc) - a) - m * w ** 2 - 1j * w * (r0 * np.exp(-al * cc / 2.0))

    def g(xi_cc):
        return w * np.sqrt(p.rho / (h * xi_cc))

    xi_c = xi(c)  # each channel-wide array once: V and the pressure's g both need it
    g0, g_c = g(xi(0.0)), g(xi_c)
    root_am = np.sqrt(a + m * w ** 2)
    # the phase integral's logarithm: its argument's numerator is channel-independent
    top = (-al * np.sqrt(-a + c0 - w * (m * w + 1j * r0))
           + 1j * al * (2.0 * a + w * (2.0 * m * w + 1j * r0)) / (2.0 * root_am))
    decay = np.exp(-al * c / 2.0)

    def pressure(cc, dec, g_cc):
        bottom = (0.5 * al * np.exp(al * cc / 2.0)
                  * (-2.0 * np.sqrt(-a + c0 * np.exp(-al * cc) - m * w ** 2 - 1j * dec * w * r0)
                     + 1j * (2.0 * a + w * (2.0 * m * w + 1j * dec * r0)) / root_am))
        big_g = (2.0 * g0 / al - 1 / (al * np.sqrt(h * 2.0 * (m * w ** 2 + a)))
                 * (2.0 * 1j * np.sqrt(2.0) * w * np.log(top / bottom)))
        return np.sqrt(big_g / g_cc) * special.hankel1(0, big_g)

    k = 4.0 * np.pi * (w / (2.0 * np.pi)) / al * np.sqrt(2.0 / (h * c0))
    z = (np.sqrt(2.0 * c0 / h) * (1j * special.j0(k) + special.y0(k))
         / (special.j1(k) - 1j * special.y1(k)))
    return 2.0 * w / xi_c * pressure(c, decay, g_c) * z / pressure(0.0, 1.0, g0)


def basilar_membrane(samples: np.ndarray, fs: int, params: BasilarMembrane = BasilarMembrane()
                     ) -> tuple[np.ndarray, int]:
    """Membrane velocity ``(channels, N//2 + 1)`` at rate ``fs // 2`` (stage 3)."""
    x = np.asarray(samples, dtype=np.float64)
    n_bins = x.shape[0] // 2 + 1
    rate = int(fs) // 2
    omega = 2 * np.pi * np.linspace(1, rate, n_bins)
    spectrum = np.fft.fft(x)[:n_bins]
    velocity = np.real(np.fft.ifft(_membrane_transfer(omega, params) * spectrum[None, :], axis=1))
    return velocity, rate


def _kernels():
    """The compiled loops of stages 4 and 5 (numba, compiled on first use, cached on disk)."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    from numba import njit

    @njit(cache=True)
    def meddis(v, rate, y, g, ll, r, x, a, b, h, m):
        n_ch, n_t = v.shape
        ymdt, xdt, ydt = y * m / rate, x / rate, y / rate
        rdt, gdt, hdt, lrdt = r / rate, g / rate, h / rate, (ll + r) / rate
        k0 = g * a / (a + b)
        out = np.empty((n_ch, n_t))
        for i in range(n_ch):
            cleft = m * y * k0 / (ll * k0 + y * (ll + r))
            free = cleft * (ll + r) / k0
            store = cleft * r / x
            for j in range(n_t):
                drive = v[i, j] + a
                k = gdt * drive / (drive + b) if drive > 0 else 0.0
                refill = ymdt - ydt * free if free < m else 0.0
                eject = k * free
                loss = lrdt * cleft
                back = rdt * cleft
                reprocess = xdt * store
                free = max(free + refill - eject + reprocess, 0.0)
                cleft = max(cleft + eject - loss, 0.0)
                store = max(store + back - reprocess, 0.0)
                out[i, j] = cleft * hdt
        return out

    @njit(cache=True)
    def fibres(prob, uniform, n_fibres, dead):
        # k[i, j] ~ Binomial(fibres without a spike in the last `dead` steps, p[i, j]), by inversion
        n_ch, n_t = prob.shape
        out = np.zeros((n_ch, n_t), dtype=np.int64)
        for i in range(n_ch):
            busy = 0
            for j in range(n_t):
                if j > dead:
                    busy -= out[i, j - dead - 1]
                n = n_fibres - busy
                p = prob[i, j]
                k = 0
                if p >= 1.0:
                    k = n
                elif p > 0.0 and n > 0:
                    u = uniform[i, j]
                    pmf = (1.0 - p) ** n
                    cdf = pmf
                    odds = p / (1.0 - p)
                    while u >= cdf and k < n:
                        pmf *= (n - k) / (k + 1.0) * odds
                        k += 1
                        cdf += pmf
                out[i, j] = k
                busy += k
        return out

    @njit(cache=True)
    def bushy(counts, rate, tau_mem, tau_syn, tau_refrac, weight):
        n_ch, n_t = counts.shape
        dt = 1.0 / rate
        mem_decay, syn_decay = np.exp(-dt / tau_mem), np.exp(-dt / tau_syn)
        refrac_steps = tau_refrac * rate
        out = np.zeros((n_ch, n_t), dtype=np.bool_)
        for i in range(n_ch):
            v_prev, cur, left = 0.0, 0.0, 0.0
            for j in range(n_t):
                v = 0.0
                if j > 0:
                    if left <= 0:
                        if v_prev < 1.0:
                            v = v_prev * mem_decay
                        else:
                            left = refrac_steps
                            out[i, j - 1] = True
                    cur = cur * syn_decay
                cur += counts[i, j]
                if left <= 0:
                    v += cur * weight * dt
                if v > 1.0:
                    v = 1.0
                left -= 1
                v_prev = v
        return out

    _KERNELS = (meddis, fibres, bushy)
    return _KERNELS


_KERNELS = None


def hair_cells(velocity: np.ndarray, rate: float, params: HairCell = HairCell()) -> np.ndarray:
    """Release probability per step ``(channels, steps)`` from membrane velocity (stage 4)."""
    p = params
    v = np.ascontiguousarray(velocity, dtype=np.float64)
    return _kernels()[0](v, float(rate), p.y, p.g, p.l, p.r, p.x, p.a, p.b, p.h, p.m)


def _dead_steps(tau_refrac: float, rate: float) -> int:
    """Steps after a fibre spike in which it cannot fire: ``j - last < tau_refrac * rate``."""
    return max(int(math.ceil(tau_refrac * rate)) - 1, 0)


def fibre_spike_counts(probability: np.ndarray, rate: float, generator: np.random.Generator,
                       params: BushyCell = BushyCell()) -> np.ndarray:
    """Spikes per step of each channel's ``n_convergence`` refractory fibres ``(channels, steps)``."""
    prob = np.ascontiguousarray(probability, dtype=np.float64)
    uniform = generator.random(prob.shape)
    return _kernels()[1](prob, uniform, int(params.n_convergence),
                         _dead_steps(params.tau_refrac, rate))


def bushy_cell_spikes(counts: np.ndarray, rate: float, params: BushyCell = BushyCell()) -> np.ndarray:
    """Bushy-cell spikes ``(channels, steps)`` (bool) driven by fibre spike counts (stage 5)."""
    p = params
    c = np.ascontiguousarray(counts, dtype=np.float64)
    return _kernels()[2](c, float(rate), p.tau_mem, p.tau_syn, p.tau_refrac,
                         p.weight / float(p.n_convergence))


def cochlea_spikes(samples: np.ndarray, fs: int, generator: np.random.Generator,
                   params: Cochlea = Cochlea()) -> tuple[np.ndarray, np.ndarray]:
    """The whole chain: audio ``(N,)`` at ``fs`` Hz to spikes ``(times in s, units)``.

    Times are float64 multiples of ``1 / (fs // 2)``, sorted by time, then unit; units are
    channel indices in ``[0, channels)`` (0: the base of the cochlea, the highest frequencies).
    """
    x = hanning_ramps(rms_normalize(samples, params.rms_level))
    velocity, rate = basilar_membrane(x, fs, params.membrane)
    prob = hair_cells(velocity, rate, params.hair)
    spikes = bushy_cell_spikes(fibre_spike_counts(prob, rate, generator, params.bushy), rate,
                               params.bushy)
    steps, units = np.nonzero(spikes.T)
    return steps / float(rate), units.astype(np.int64)
