"""Subcommands `kernel`, `params` and `demo` (placeholder until the theory lands)."""


def add_parser(sub):
    pass
