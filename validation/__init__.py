"""fluctinit.validation: experiments that set the theory against simulation,
training pipelines, experiment configs and the ``fluctinit`` command line.

Kept import-light: importing this package does not import torch; the
submodules that need it import it themselves.
"""

__all__: list[str] = []
