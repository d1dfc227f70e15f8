"""What every client subcommand shares: the bootstrap option, output (tables or JSON), exit codes."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..client.cluster import DEFAULT_BOOTSTRAP, bootstrap_from_env
from ..client.errors import BrokerUnreachable, ErrorCode, KafkaError

#: Exit codes of the client subcommands.
EXIT_OK = 0
EXIT_FAILED = 1  # the broker refused or an operation failed (the Kafka error name is printed)
EXIT_USAGE = 2  # bad arguments (argparse uses 2 too)
EXIT_UNREACHABLE = 3  # no broker could be reached
EXIT_NOT_FOUND = 4  # the topic or group does not exist
EXIT_UNHEALTHY = 5  # cluster health found problems
EXIT_INTERRUPTED = 130

NOT_FOUND = {ErrorCode.unknown_topic_or_partition, ErrorCode.group_id_not_found, ErrorCode.unknown_topic_id}


class CommandError(Exception):
    """A failure the command reports in one line and turns into an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def client_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "-b", "--bootstrap-server", default=None, metavar="HOST:PORT",
        help=f"broker(s) to bootstrap from (default: $ODRADEK_BOOTSTRAP_SERVER or {DEFAULT_BOOTSTRAP})",
    )
    p.add_argument("--format", dest="output", choices=["table", "json"], default="table", help="output: tables for people (default) or JSON for scripts")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="request timeout (default 30)")
    p.add_argument(
        "--command-config", default=None, metavar="FILE",
        help="client properties as Kafka's tools take them (security.protocol, ssl.truststore.location, "
        "sasl.mechanism, sasl.jaas.config, ...)",
    )
    return p


def security(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments that give a client the TLS/SASL settings of ``--command-config``
    (nothing when it is not given). A file that cannot be read or a setting that cannot work is a
    usage error naming it."""
    path = getattr(args, "command_config", None)
    if not path:
        return {}
    from ..client.security import SecurityConfig, properties_from_file

    try:
        props = properties_from_file(path)
    except OSError as e:
        raise CommandError(f"--command-config {path}: {e.strerror or e}", EXIT_USAGE) from None
    try:
        SecurityConfig.from_properties(props).validate()
    except (ValueError, OSError) as e:
        raise CommandError(f"--command-config {path}: {e}", EXIT_USAGE) from None
    return {"security_config": props}
def add_command(group: argparse._SubParsersAction, name: str, fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int | None]],
                help: str, *, parent: argparse.ArgumentParser, **kw: Any) -> argparse.ArgumentParser:
    """Subcommand ``name`` of ``group``, with the client options of ``parent``, that runs the
    coroutine ``fn`` through :func:`run`."""
    p = group.add_parser(name, parents=[parent], help=help, description=help, **kw)
    p.set_defaults(func=lambda a, fn=fn: run(fn, a))
    return p


def serve(server: Coroutine[Any, Any, None], cannot: Callable[[OSError], str],
          loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> int:
    """Run a server's coroutine (on a loop from ``loop_factory``, if given) until it returns or
    Ctrl-C: 0. An OSError (its port taken, a folder it cannot use) is printed as ``cannot(error)``: 1."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(server)
    except OSError as e:
        print(cannot(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def stop_on_signals() -> asyncio.Event:
    """An event SIGINT and SIGTERM set (where the running loop can install handlers), so a
    long-running command ends its work cleanly instead of being interrupted in the middle."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop


def bootstrap(args: argparse.Namespace) -> str:
    return bootstrap_from_env(args.bootstrap_server)


def run(coro_fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int | None]], args: argparse.Namespace) -> int:
    """Run a subcommand's coroutine; map errors to a message on stderr and an exit code."""
    try:
        rc: int | None = asyncio.run(coro_fn(args))
        return EXIT_OK if rc is None else rc
    except CommandError as e:
        print(f"odradek: {e}", file=sys.stderr)
        return e.code
    except BrokerUnreachable as e:
        print(f"odradek: cannot reach the cluster at {bootstrap(args)}: {e.message}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KafkaError as e:
        print(f"odradek: {e.name}: {e.message}" if e.message else f"odradek: {e.name}", file=sys.stderr)
        return EXIT_NOT_FOUND if e.code in NOT_FOUND else EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes):
        return o.decode("utf-8", "backslashreplace")
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, out: Any = None) -> None:
    """Print an aligned table: upper-case headers, columns two spaces apart, numbers right-aligned."""
    out = out or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    numeric = [any(isinstance(r[i], int) and not isinstance(r[i], bool) for r in rows) and all(isinstance(r[i], int) and not isinstance(r[i], bool) or r[i] in (None, "-") for r in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    print(line([h.upper() for h in headers]), file=out)
    for row in cells:
        print(line(row), file=out)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple, set)):
        return ",".join(str(x) for x in v) if v else "-"
    return str(v)


def parse_kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise CommandError(f"{what} must be KEY=VALUE, not {item!r}", EXIT_USAGE)
        out[k] = v
    return out
