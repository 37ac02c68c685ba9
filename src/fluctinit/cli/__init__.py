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
    "sweep": "sweep",
    "sweep-validate": "sweep",
    "init-nir": "interop",
    "figures": "figures",
}
#: two-word commands: ``fluctinit sweep validate ...`` runs the subcommand ``sweep-validate``
NESTED: dict[tuple[str, str], str] = {("sweep", "validate"): "sweep-validate"}

# Subcommands that simulate repeatedly: glibc keeps freed memory for reuse (fluctinit.sim.memory);
# a sweep's worker processes set it for themselves, this covers cells run in the client.
KEEP_FREED_MEMORY = ("train", "validate", "bench", "sweep", "sweep-validate", "figures")


# Python parameter names -> command-line flags, so error messages name what the user typed.
def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def reject_inapplicable(args, what: str, names) -> None:
    """:func:`fluctinit.errors.reject_inapplicable` on the parsed options ``args``."""
    from fluctinit.errors import reject_inapplicable as rule

    rule(vars(args), what, names)


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
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for (command, word), name in NESTED.items():
        if argv[:2] == [command, word]:
            argv = [name, *argv[2:]]
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command in KEEP_FREED_MEMORY:
        from fluctinit.sim.memory import keep_freed_memory

        keep_freed_memory()
    return run_reporting(lambda: args.run(args), getattr(args, "prog_name", None) or f"fluctinit {args.command}")


def run_reporting(call, prog: str, *, flags: bool = True) -> int:
    """``call()`` as a command's body: its return value (None: 0) as the exit status; bad input
    (ParameterError and other ValueErrors, missing files, overflowing values) and failed writes
    (OSError: a full disk) one line ``<prog>: error: ...`` on stderr and 2; a closed output pipe
    (``| head``) 0, quietly; Ctrl-C 130.  With ``flags``, parameter names in a ParameterError are
    written as the flags the user typed (``fan_in`` -> ``--fan-in``; config key paths stay)."""
    from fluctinit.errors import ParameterError

    try:
        return int(call() or 0)
    except ParameterError as err:
        msg = str(err)
        for name in err.names if flags else ():
            if isinstance(name, str) and "." not in name and "[" not in name:  # config key paths stay
                msg = msg.replace(f"`{name}`", f"`{flag_name(name)}`")
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except OverflowError as err:  # a finite but huge value: the arithmetic overflowed
        print(f"{prog}: error: a value is too large for the computation ({err})", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output went to a pipe closed early (e.g. `| head`)
        _silence_stdout()
        return 0
    except OSError as err:  # a full disk, a vanished folder: one line, never a traceback
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"{prog}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
