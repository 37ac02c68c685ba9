"""The ``fluctinit`` command line.

Each subcommand lives in its own module with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``; modules are imported
lazily so that ``fluctinit kernel`` and ``fluctinit params`` never import
torch.  Bad input exits with status 2 and one line on stderr naming the
parameter and its valid range -- never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# subcommand name -> module (in fluctinit.cli) defining add_parser/run
SUBCOMMANDS: dict[str, str] = {
    "kernel": "theory",
    "params": "theory",
    "demo": "theory",
    "data": "data",
    "validate": "validate",
    "bench": "bench",
    "train": "train",
    "experiments": "train",
}

# Subcommands that simulate repeatedly: glibc keeps freed memory for reuse (fluctinit.sim.memory).
KEEP_FREED_MEMORY = ("train", "validate", "bench")


# Python parameter names -> command-line flags, so error messages name what the user typed.
def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


class _Parser(argparse.ArgumentParser):
    """argparse exits with status 2 on usage errors already; keep it to one line."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via CLI tests
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from fluctinit import __version__

    parser = _Parser(
        prog="fluctinit",
        description="Fluctuation-driven initialization for spiking neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"fluctinit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in dict.fromkeys(SUBCOMMANDS.values()):
        importlib.import_module(f"fluctinit.cli.{module_name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from fluctinit.errors import ParameterError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command in KEEP_FREED_MEMORY:
        from fluctinit.sim.memory import keep_freed_memory

        keep_freed_memory()
    try:
        return int(args.run(args) or 0)
    except ParameterError as err:
        msg = str(err)
        for name in err.names:
            msg = msg.replace(f"`{name}`", f"`{flag_name(name)}`")
        print(f"fluctinit {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"fluctinit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fluctinit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
