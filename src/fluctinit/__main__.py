"""``python -m fluctinit`` is the same as the ``fluctinit`` command."""

from fluctinit.cli import main

# Guarded: worker processes started by multiprocessing's "spawn" (Dask's nanny, for `fluctinit
# sweep`) import the parent's main module under another name and must not run the command again.
if __name__ == "__main__":
    raise SystemExit(main())
