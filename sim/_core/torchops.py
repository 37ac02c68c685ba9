"""The fast core's torch-op step: the neuron's update and adjoint as in-place torch operations.

What CUDA runs, and the CPU without numba: the same recursions as the compiled kernels
(sim._core.compiled, docstring there), one time step per call, on ``(batch, N)`` slices of
preallocated time-major buffers (no per-step autograd graph)::

    forward_step   S[n] = H(U[n] - theta);  U[n+1] = (lm U[n] + (1 - lm) sum_k I_k[n]) (1 - S[n])
                   I_k[n+1] = ls_k I_k[n] + J_k[n]            (the recurrent input is added by the caller)
    backward_step  m = (1 - S[n]) a_U[n+1];  a_Ik[n] = ls_k a_Ik[n+1] + (1 - lm) m
                   a_U[n] = g_U[n] + h(U[n] - theta) dS[n] + lm m,   h = 1/q^2

Denormal flushing comes from ``torch.set_flush_denormal``, scoped by sim.denormal.
"""

from __future__ import annotations

from torch import Tensor
import torch

__all__ = ["forward_step", "backward_step"]


def forward_step(n: int, T: int, u_l, s_l, currents: list, itot: Tensor, j_of: dict, lam_m, lam_s: list,
                 theta: float, spiking: bool) -> None:
    """Step ``n``: write ``S[n]`` (when spiking) and ``U[n+1]``, advance every current to ``I_k[n+1]``.

    ``u_l``, ``s_l``: per-step views of ``U``, ``S`` ``(T, B, N)``; ``currents``: per component
    the ``(B, N)`` state; ``itot``: a buffer for their sum (``currents[0]`` itself when there is
    one); ``j_of``: component -> per-step views of ``J_k``; ``lam_m``, ``lam_s[k]``: float or ``(N,)``.
    """
    un = u_l[n]
    if spiking:
        torch.gt(un, theta, out=s_l[n])  # S[n] = H(U[n] - theta) as 0/1 floats
    if n + 1 >= T:
        return
    if itot is not currents[0]:
        torch.add(currents[0], currents[1], out=itot)
        for extra in currents[2:]:
            itot.add_(extra)
    u_next = u_l[n + 1]
    torch.lerp(itot, un, lam_m, out=u_next)  # lm U[n] + (1 - lm) I[n]
    if spiking:
        u_next.addcmul_(u_next, s_l[n], value=-1.0)  # times (1 - S[n]), exactly, for S in {0, 1}
    if n + 2 >= T:  # I[n+1] only influences U[n+2]
        return
    for k, cur in enumerate(currents):
        if isinstance(lam_s[k], Tensor):
            cur.mul_(lam_s[k])
            if k in j_of:
                cur.add_(j_of[k][n])
        elif k in j_of:
            torch.add(j_of[k][n], cur, alpha=lam_s[k], out=cur)
        else:
            cur.mul_(lam_s[k])


def backward_step(n: int, a_u: Tensor, m: Tensor, q: Tensor, shift: Tensor, u_l, s_l, ds: Tensor | None,
                  gu_l, dj_l: list, lam_m, lam_s: list, theta: float, spiking: bool, q_scale: float) -> None:
    """Step ``n`` of the adjoint: ``a_u`` holds ``a_U[n+1]`` on entry and ``a_U[n]`` on return;
    ``dj_l[k][n-1] = a_Ik[n]`` is written from ``dj_l[k][n]`` (``n >= 1``).

    ``m``, ``q``: ``(B, N)`` work buffers; ``shift``: ``(B, N)`` filled with ``q0``;
    ``ds``: ``dS[n]`` ``(B, N)`` or None; ``gu_l``: per-step views of ``g_U`` or None.
    """
    if spiking:
        torch.addcmul(a_u, a_u, s_l[n], value=-1.0, out=m)  # m = (1 - S[n]) a_U[n+1]
    else:
        m.copy_(a_u)
    vec_m = isinstance(lam_m, Tensor)
    if n >= 1:
        one_m = 1.0 - lam_m
        for k, dj in enumerate(dj_l):
            prev = dj[n - 1]
            torch.mul(dj[n], lam_s[k], out=prev)  # a_I[n] = ls a_I[n+1] + (1 - lm) m
            if vec_m:
                prev.addcmul_(m, one_m)
            else:
                prev.add_(m, alpha=one_m)
    if spiking and ds is not None:
        torch.sub(u_l[n], theta, out=q).abs_()
        torch.add(shift, q, alpha=q_scale, out=q)  # q = q0 + q1 |U[n] - theta|
        torch.div(ds, q, out=a_u).div_(q)  # h dS[n], h = 1/q^2
        if gu_l is not None:
            a_u.add_(gu_l[n])
    elif gu_l is not None:
        a_u.copy_(gu_l[n])
    else:
        a_u.zero_()
    if vec_m:
        a_u.addcmul_(m, lam_m)
    else:
        a_u.add_(m, alpha=lam_m)
