"""Entry point of the ``odradek`` command."""

from __future__ import annotations

import argparse
import sys

from ..config import BrokerConfig, ConfigError
from .common import serve


def _serve(args: argparse.Namespace) -> int:
    try:
        config = BrokerConfig.load(args.config, args.override)
    except (ConfigError, OSError) as e:
        print(f"odradek: {e}", file=sys.stderr)
        return 2
    from ..logformat import setup as setup_logging

    setup_logging(args.log_level, args.log_format)
    from ..server.broker import Broker

    try:
        broker = Broker(config)
    except (ConfigError, OSError) as e:
        print(f"odradek: {e}", file=sys.stderr)
        return 2
    # with metrics on, a loop whose selector measures how long it sits idle
    factory = broker.metrics.loop_factory if broker.metrics is not None else None
    return serve(broker.serve_forever(), lambda e: f"odradek: cannot start: {e}", loop_factory=factory)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odradek",
        description="Odradek: a Kafka-protocol broker in Python, and the tools to operate any Kafka-compatible cluster",
        epilog="Client commands take --bootstrap-server (or $ODRADEK_BOOTSTRAP_SERVER, default 127.0.0.1:9092) and --format table|json. "
        "--command-config FILE gives them Kafka's client security properties (TLS, SASL). "
        "Exit codes: 0 ok, 1 failed, 2 usage, 3 cluster unreachable, 4 topic or group not found, 5 unhealthy, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start a broker (like kafka-server-start.sh)")
    serve.add_argument("config", nargs="?", help="a server.properties file")
    serve.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", default="text", choices=["text", "json"],
                       help="log lines as text (default) or one JSON object each, with the client id and "
                            "connection on a connection's errors")
    serve.set_defaults(func=_serve)

    from ..console import cli as console_cli
    from . import access, perf, tools, txn

    tools.register(sub)
    txn.register(sub)
    perf.register(sub)
    console_cli.register(sub)
    access.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
