"""``odradek console``: run the web console against a cluster."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from ..cli.common import serve, stop_on_signals
from ..client.cluster import DEFAULT_BOOTSTRAP, bootstrap_from_env, parse_bootstrap
from .parsing import InputError, load_client_settings, parse_listen
from .security import PasswordFile, hash_password, is_loopback

log = logging.getLogger("odradek.console")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "console", help="a web console for any Kafka-compatible cluster",
        description="Serve a web console (cluster, topics, messages, produce, consumer groups and lag) that talks to the "
        "cluster through Odradek's client. It listens on 127.0.0.1 unless told otherwise.",
    )
    p.add_argument("-b", "--bootstrap-server", default=None, metavar="HOST:PORT",
                   help=f"broker(s) to bootstrap from (default: bootstrap.servers of --command-config, $ODRADEK_BOOTSTRAP_SERVER or {DEFAULT_BOOTSTRAP})")
    p.add_argument("--command-config", metavar="FILE", help="client settings, as a Kafka client.properties file (client.id, request.timeout.ms, ...)")
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="where the console listens (default 127.0.0.1:8080; port 0 picks a free one)")
    p.add_argument("--read-only", action="store_true", help="refuse (and do not show) every changing action")
    p.add_argument("--hide-values", action="store_true", help="never show record values (keys, headers and sizes only)")
    p.add_argument("--password-file", metavar="FILE", help="require HTTP basic auth; one user:password (or user:pbkdf2_sha256$...) a line")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="without --password-file only requests for a loopback host are served; also serve this host name (repeatable, e.g. behind a reverse proxy)")
    p.add_argument("--hash-password", action="store_true", help="read a password from the terminal or stdin, print its hash for the password file, and exit")
    p.add_argument("--lag-interval", type=float, default=10.0, metavar="SECONDS", help="how often every group's lag is sampled for the charts (default 10; 0 turns sampling off)")
    p.add_argument("--lag-history", type=int, default=360, metavar="N", help="lag samples kept per group (default 360)")
    p.add_argument("--scan-max-records", type=int, default=200_000, metavar="N", help="records one message scan looks at, at most (default 200000)")
    p.add_argument("--scan-max-seconds", type=float, default=15.0, metavar="SECONDS", help="how long one message scan runs, at most (default 15)")
    p.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines as text (default) or one JSON object each")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=main)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InputError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def main(args: argparse.Namespace) -> int:
    from .app import ConsoleOptions, setup_logging

    if args.hash_password:
        try:
            pw = _read_password()
        except InputError as e:
            print(f"odradek console: {e}", file=sys.stderr)
            return 2
        if not pw:
            print("odradek console: empty password", file=sys.stderr)
            return 2
        print(hash_password(pw))
        return 0
    setup_logging(args.log_format, args.log_level)
    try:
        settings = load_client_settings(args.command_config)
        bootstrap = args.bootstrap_server or settings.bootstrap or bootstrap_from_env(None)
        try:
            parse_bootstrap(bootstrap)
        except ValueError as e:
            raise InputError(f"bad bootstrap servers {bootstrap!r}: {e}") from None
        host, port = parse_listen(args.listen)
        passwords = PasswordFile.load(args.password_file) if args.password_file else None
        if passwords is None and not is_loopback(host):
            raise InputError(f"refusing to listen on {host}, which is not a loopback address, without --password-file")
        for name, value, low in (("--lag-history", args.lag_history, 1), ("--scan-max-records", args.scan_max_records, 1)):
            if value < low:
                raise InputError(f"{name} must be at least {low}")
        if args.scan_max_seconds <= 0 or args.lag_interval < 0:
            raise InputError("--scan-max-seconds must be positive and --lag-interval at least 0")
    except InputError as e:
        print(f"odradek console: {e}", file=sys.stderr)
        return 2
    for w in settings.warnings:
        log.warning(w)
    options = ConsoleOptions(
        bootstrap=bootstrap, host=host, port=port, read_only=args.read_only, hide_values=args.hide_values, passwords=passwords,
        scan_max_records=args.scan_max_records, scan_max_seconds=args.scan_max_seconds, lag_interval=args.lag_interval,
        allowed_hosts=tuple(h.strip().lower() for h in args.allow_host if h.strip()),
    )
    return serve(_serve(options, settings, args), lambda e: f"odradek console: cannot listen on {args.listen}: {e.strerror or e}")


async def _serve(options, settings, args) -> None:  # noqa: ANN001
    from .app import Console
    from .service import ClusterService

    service = ClusterService(options.bootstrap, settings, hide_values=options.hide_values, lag_interval=options.lag_interval, lag_keep=args.lag_history)
    console = Console(options, service)
    stop = stop_on_signals()
    await console.start()
    assert console.server is not None
    shown_host = f"[{options.host}]" if ":" in options.host else options.host
    modes = [m for m, on in (("read-only", options.read_only), ("values hidden", options.hide_values), ("basic auth", options.passwords is not None)) if on]
    log.info(
        "console listening on http://%s:%d/ for the cluster at %s%s", shown_host, console.server.port, options.bootstrap,
        f" ({', '.join(modes)})" if modes else "",
        extra={"fields": {"listen": f"{shown_host}:{console.server.port}", "bootstrap": options.bootstrap, "client_id": settings.client_id}},
    )
    try:
        await stop.wait()
    finally:
        await console.close()
