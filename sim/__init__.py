"""fluctinit.sim: a PyTorch simulator for current-based LIF networks.

(Filled in by the simulator issue.)
"""

__all__: list[str] = []
