"""fluctinit.validation: membrane statistics, the theory set against simulation (figure 2, S2).

Kept import-light: importing this package does not import torch; the submodules that need it
import it themselves.
"""

__all__: list[str] = []
