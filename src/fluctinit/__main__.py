"""``python -m fluctinit`` is the same as the ``fluctinit`` command."""

from fluctinit.cli import main

raise SystemExit(main())
