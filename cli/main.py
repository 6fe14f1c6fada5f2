"""The ``restora`` command: argument parsing, logging and exit codes.

Exit codes: 0 ok; 2 usage error; 3 input/output problem; 4 batch finished
with failures; 5 model problem; 130 cancelled. Errors print one line naming the
file and the problem; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from restora import __version__
from restora.errors import Cancelled, RestoraError

log = logging.getLogger("restora")


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our usage code (2) and a one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"restora: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="more detail, and tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    from restora.cli import (cmd_analyze, cmd_batch, cmd_eq_match, cmd_extract, cmd_models, cmd_process,
                             cmd_separate, cmd_upscale)

    common = _common()
    parser = _Parser(prog="restora", parents=[common],
                     description="Repair and take apart recordings with neural models.")
    parser.add_argument("--version", action="version", version=f"restora {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (cmd_process, cmd_separate, cmd_extract, cmd_upscale, cmd_batch, cmd_analyze, cmd_eq_match,
                   cmd_models):
        module.register(sub, common)
    return parser


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse cannot take positionals after an option once a "*" positional has matched
    # ("models fetch --force ID"): such trailing ids belong to it.
    if extra and getattr(args, "ids", None) is not None and not any(e.startswith("-") for e in extra):
        args.ids = list(args.ids) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    verbose = getattr(args, "verbose", False)
    _setup_logging(verbose, getattr(args, "quiet", False))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("restora: cancelled", file=sys.stderr)
        return Cancelled.exit_code
    except RestoraError as exc:
        if verbose:
            traceback.print_exc()
        print(f"restora: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        print("restora: error: out of memory", file=sys.stderr)
        return 3
    except OSError as exc:
        if verbose:
            traceback.print_exc()
        print(f"restora: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if verbose:
            traceback.print_exc()
        print(f"restora: internal error: {type(exc).__name__}: {exc} (run with --verbose for details; "
              f"please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
