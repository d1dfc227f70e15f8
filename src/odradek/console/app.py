"""The console application: routes, authentication, CSRF, read-only mode, error pages, logging.

Every page handler gets a :class:`~.httpd.Request` and returns a :class:`~.httpd.Response`.
Changing actions are POSTs, refused in read-only mode and without a valid CSRF token; GET pages
never change anything. Cluster errors become pages: an unreachable cluster a 503 page that
reloads itself, a refusal the Kafka error name and message.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import unquote

from ..client import BrokerUnreachable, KafkaError, RequestTimedOut, TopicPartition
from ..logformat import TEXT, JsonFormatter
from ..protocol.errors import ErrorCode
from .httpd import HttpServer, Request, Response, Router
from .markup import Markup, html, url
from .parsing import (
    InputError, parse_configs, parse_cursor, parse_group_id, parse_headers, parse_int, parse_offset, parse_timestamp,
    parse_topic_name, format_cursor,
)
from .security import COOKIE, Csrf, PasswordFile, is_loopback, origin_matches
from .service import SCAN_MODES, ClusterService, NotFound, ScanSpec
from . import views
from .views import Page, message

log = logging.getLogger("odradek.console")
access_log = logging.getLogger("odradek.console.access")

__all__ = ["Console", "ConsoleOptions"]

SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]

#: Transient errors that mean "the cluster is not answering" rather than "it said no".
UNREACHABLE = (BrokerUnreachable, RequestTimedOut, ConnectionError, asyncio.TimeoutError)

MAX_RESULTS = 500


@dataclass
class ConsoleOptions:
    bootstrap: str
    host: str = "127.0.0.1"
    port: int = 8080
    read_only: bool = False
    hide_values: bool = False
    passwords: PasswordFile | None = None
    scan_max_records: int = 200_000
    scan_max_seconds: float = 15.0
    lag_interval: float = 10.0
    topics_per_page: int = 100
    allowed_hosts: tuple[str, ...] = ()


class Console:
    def __init__(self, options: ConsoleOptions, service: ClusterService) -> None:
        self.opts = options
        self.service = service
        self.csrf = Csrf()
        self.router = Router()
        self.server: HttpServer | None = None
        self._flash: collections.OrderedDict[str, Markup] = collections.OrderedDict()
        self.static = {
            name: (resources.files("odradek.console").joinpath("static", name).read_bytes(), ctype)
            for name, ctype in (("console.css", "text/css; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8"))
        }
        r = self.add
        r("GET", r"/healthz", self.healthz, cluster=False)
        r("GET", r"/static/([a-z.]+)", self.static_file, cluster=False)
        r("GET", r"/favicon\.ico", self.no_content, cluster=False)
        r("GET", r"/", self.overview)
        r("GET", r"/topics", self.topics)
        r("GET", r"/new-topic", self.topic_new, changes=True)
        r("POST", r"/topics", self.topic_create, changes=True)
        r("GET", r"/topics/([^/]+)", self.topic)
        r("POST", r"/topics/([^/]+)/config", self.topic_config, changes=True)
        r("POST", r"/topics/([^/]+)/delete", self.topic_delete, changes=True)
        r("GET", r"/topics/([^/]+)/messages", self.messages)
        r("GET", r"/topics/([^/]+)/messages/stream", self.messages_stream, cluster=False)
        r("GET", r"/topics/([^/]+)/record", self.record)
        r("GET", r"/topics/([^/]+)/record/raw", self.record_raw)
        r("GET", r"/topics/([^/]+)/produce", self.produce_form, changes=True)
        r("POST", r"/topics/([^/]+)/produce", self.produce, changes=True)
        r("GET", r"/groups", self.groups)
        r("GET", r"/groups/([^/]+)", self.group)
        r("GET", r"/groups/([^/]+)/reset", self.reset_preview, changes=True)
        r("POST", r"/groups/([^/]+)/reset", self.reset_apply, changes=True)

    def add(self, method: str, pattern: str, handler: Callable[[Request], Awaitable[Response]], *, cluster: bool = True, changes: bool = False) -> None:
        async def wrapped(req: Request) -> Response:
            if changes and self.opts.read_only:
                log.info("refused %s %s: read-only", req.method, req.path, extra={"fields": self._fields(req)})
                return self._html(403, views.error_page(self.page(req), "Read-only", "This console is read-only: changing actions are refused."))
            if req.method == "POST" and not self._csrf_ok(req):
                log.warning("refused %s %s: bad or missing CSRF token", req.method, req.path, extra={"fields": self._fields(req)})
                return self._html(403, views.error_page(self.page(req), "Refused", "The form was stale or came from another site: reload the page and try again."))
            if cluster:
                await self.service.reachable()
            return await handler(req)

        self.router.add(method, pattern, wrapped)

    # ------------------------------------------------------------------ plumbing

    async def start(self) -> None:
        await self.service.start()
        self.server = HttpServer(self.handle, self.opts.host, self.opts.port)
        await self.server.start()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
        await self.service.close()

    def page(self, req: Request) -> Page:
        return Page(
            self.opts.bootstrap, self.opts.read_only, self.opts.hide_values, self.csrf.token(req.state.get("csrf_cookie", "")),
            req.user, self.opts.lag_interval,
        )

    def _csrf_ok(self, req: Request) -> bool:
        if req.state.get("csrf_new"):
            return False
        host = req.headers.get("host")
        if not origin_matches(req.headers.get("origin"), host):
            return False
        return self.csrf.valid(req.cookies.get(COOKIE), req.form.get("_csrf"))

    def _fields(self, req: Request, **more: Any) -> dict[str, Any]:
        return {
            "request_id": req.id, "connection": req.remote, "method": req.method, "path": req.path, "user": req.user,
            "client_id": self.service.client_id, "bootstrap": self.opts.bootstrap, **more,
        }

    @staticmethod
    def _html(status: int, text: str) -> Response:
        return Response(status, text)

    def flash(self, notice: Markup) -> str:
        key = secrets.token_urlsafe(9)
        self._flash[key] = notice
        while len(self._flash) > 500:
            self._flash.popitem(last=False)
        return key

    def take_flash(self, req: Request) -> Markup:
        key = req.query.get("flash")
        return self._flash.pop(key, Markup("")) if key else Markup("")

    @staticmethod
    def redirect(location: str) -> Response:
        return Response(303, b"", headers=[("Location", location)])

    async def handle(self, req: Request) -> Response:
        started = time.monotonic()
        resp = await self._dispatch(req)
        if req.state.get("csrf_new"):
            resp.header("Set-Cookie", f"{COOKIE}={req.state['csrf_cookie']}; Path=/; HttpOnly; SameSite=Lax")
        for k, v in SECURITY_HEADERS:
            if not (k == "Cache-Control" and any(h == k for h, _ in resp.headers)):
                resp.header(k, v)
        access_log.info(
            "%s %s %s %.1fms", req.method, req.path, resp.status, (time.monotonic() - started) * 1000,
            extra={"fields": {"request_id": req.id, "connection": req.remote, "method": req.method, "path": req.path,
                              "status": resp.status, "ms": round((time.monotonic() - started) * 1000, 1), "user": req.user}},
        )
        return resp

    def _host_allowed(self, host: str | None) -> bool:
        """Without a password, only requests naming a loopback host (or an ``--allow-host``) are
        served: a web page elsewhere cannot point its own host name at 127.0.0.1 (DNS rebinding)
        and read the console."""
        if self.opts.passwords is not None:
            return True
        if not host:
            return False
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return is_loopback(name) or name in self.opts.allowed_hosts

    async def _dispatch(self, req: Request) -> Response:
        handler, params, other = self.router.match(req.method, req.path)
        if not self._host_allowed(req.headers.get("host")):
            log.warning("refused a request for host %r", req.headers.get("host"), extra={"fields": self._fields(req)})
            return Response(403, "This console answers only to the host names it listens on; start it with --allow-host NAME to add one.\n",
                            "text/plain; charset=utf-8")
        if req.path != "/healthz" and self.opts.passwords is not None:
            user = self.opts.passwords.check(req.headers.get("authorization"))
            if user is None:
                return Response(401, "Authentication required.\n", "text/plain; charset=utf-8",
                                headers=[("WWW-Authenticate", 'Basic realm="Odradek console", charset="UTF-8"')])
            req.user = user
        cookie = req.cookies.get(COOKIE)
        if not cookie or len(cookie) > 64:
            req.state["csrf_new"] = True
            cookie = Csrf.new_cookie()
        req.state["csrf_cookie"] = cookie
        if handler is None:
            if other:
                return Response(405, "Method not allowed.\n", "text/plain; charset=utf-8")
            return self._html(404, views.error_page(self.page(req), "Not found", f"There is no page at {req.path}."))
        req.params = tuple(unquote(p) for p in params)
        try:
            return await handler(req)
        except NotFound as e:
            return self._html(404, views.error_page(self.page(req), "Not found", str(e)))
        except InputError as e:
            return self._html(400, views.error_page(self.page(req), "Bad request", str(e)))
        except UNREACHABLE as e:
            text = getattr(e, "message", None) or str(e) or type(e).__name__
            log.warning("cluster unreachable: %s", text, extra={"fields": self._fields(req, error=getattr(e, "name", type(e).__name__))})
            if req.query.get("fragment"):
                return Response(503, "unreachable", "text/plain; charset=utf-8")
            return self._html(503, views.unreachable_page(self.page(req), text))
        except KafkaError as e:
            log.warning("cluster refused: %s: %s", e.name, e.message, extra={"fields": self._fields(req, error=e.name)})
            return self._html(502, views.error_page(self.page(req), "The cluster refused", f"{e.name}: {e.message}" if e.message else e.name))
        except Exception as e:  # noqa: BLE001 - a bug in one page never stops the console
            log.exception("internal error: %s", e, extra={"fields": self._fields(req, error=type(e).__name__)})
            return self._html(500, views.error_page(self.page(req), "Internal error", f"Something went wrong (request {req.id}); the console's log has the details."))

    # ------------------------------------------------------------------ simple routes

    async def healthz(self, req: Request) -> Response:
        return Response(200, "ok\n", "text/plain; charset=utf-8")

    async def no_content(self, req: Request) -> Response:
        return Response(204, b"", "text/plain")

    async def static_file(self, req: Request) -> Response:
        found = self.static.get(req.params[0])
        if found is None:
            return Response(404, "not found\n", "text/plain; charset=utf-8")
        body, ctype = found
        return Response(200, body, ctype, headers=[("Cache-Control", "no-cache")])

    async def overview(self, req: Request) -> Response:
        ov = await self.service.overview()
        return self._html(200, views.overview_page(self.page(req), ov))

    # ------------------------------------------------------------------ topics

    def _topic(self, req: Request) -> str:
        try:
            return parse_topic_name(req.params[0])
        except InputError as e:
            raise InputError(f"{req.params[0]!r} is not a topic name: {e}") from None

    async def topics(self, req: Request) -> Response:
        internal = req.query.get("internal") == "1"
        rows = await self.service.topic_list(internal=internal)
        page_no = parse_int(req.query.get("page"), "The page", minimum=1, maximum=10**6, default=1)
        q = req.query.get("q", "")[:249]
        return self._html(200, views.topics_page(self.page(req), rows, q=q, internal=internal, page_no=page_no, per_page=self.opts.topics_per_page, notice=self.take_flash(req)))

    async def topic_new(self, req: Request) -> Response:
        return self._html(200, views.topic_new_page(self.page(req), {}))

    async def topic_create(self, req: Request) -> Response:
        f = req.form
        try:
            name = parse_topic_name(f.get("name"))
            partitions = parse_int(f.get("partitions"), "The number of partitions", minimum=1, maximum=1_000_000, default=-1)
            replication = parse_int(f.get("replication"), "The replication factor", minimum=1, maximum=32767, default=-1)
            configs = parse_configs(f.get("configs"))
            await self.service.create_topic(name, partitions, replication, configs)
        except InputError as e:
            return self._html(400, views.topic_new_page(self.page(req), f, str(e)))
        except KafkaError as e:
            if isinstance(e, UNREACHABLE):
                raise
            return self._html(400, views.topic_new_page(self.page(req), f, f"{e.name}: {e.message}" if e.message else e.name))
        log.info("topic %s created", name, extra={"fields": self._fields(req, topic=name)})
        return self.redirect(url("/topics", name, query={"flash": self.flash(message("ok", f"Topic {name} created."))}))

    async def topic(self, req: Request) -> Response:
        name = self._topic(req)
        detail = await self.service.topic_detail(name)
        return self._html(200, views.topic_page(self.page(req), detail, notice=self.take_flash(req)))

    async def topic_config(self, req: Request) -> Response:
        name = self._topic(req)
        f = req.form
        key = (f.get("key") or "").strip()
        op = f.get("op", "set")
        try:
            if not key:
                raise InputError("Give the name of the config to change.")
            if op == "delete":
                await self.service.alter_topic_config(name, delete=[key])
                done = f"{key} reverted to its default."
            else:
                await self.service.alter_topic_config(name, set={key: f.get("value", "")})
                done = f"{key} set to {f.get('value', '')!r}."
        except (InputError, KafkaError) as e:
            if isinstance(e, UNREACHABLE):
                raise
            text = str(e) if isinstance(e, InputError) else (f"{e.name}: {e.message}" if e.message else e.name)
            detail = await self.service.topic_detail(name)
            return self._html(400, views.topic_page(self.page(req), detail, notice=message("error", text), config_values=f))
        log.info("topic %s config changed: %s", name, done, extra={"fields": self._fields(req, topic=name)})
        return self.redirect(url("/topics", name, query={"flash": self.flash(message("ok", done))}))

    async def topic_delete(self, req: Request) -> Response:
        name = self._topic(req)
        if req.form.get("confirm", "").strip() != name:
            detail = await self.service.topic_detail(name)
            return self._html(400, views.topic_page(self.page(req), detail, notice=message("error", "Type the topic's exact name to delete it.")))
        await self.service.topic_info(name)
        await self.service.delete_topic(name)
        log.info("topic %s deleted", name, extra={"fields": self._fields(req, topic=name)})
        return self.redirect(url("/topics", query={"flash": self.flash(message("ok", f"Topic {name} deleted."))}))

    # ------------------------------------------------------------------ messages

    def _scan_spec(self, topic: str, q: dict[str, str]) -> ScanSpec:
        mode = q.get("mode") or "newest"
        if mode not in SCAN_MODES:
            raise InputError(f"Unknown start {mode!r}: use one of {', '.join(SCAN_MODES)}.")
        part = q.get("partition", "")
        partitions = None if part == "" else [parse_int(part, "The partition", minimum=0, maximum=2**31 - 1)]
        spec = ScanSpec(
            topic, partitions, mode, limit=parse_int(q.get("limit"), "Max results", minimum=1, maximum=MAX_RESULTS, default=50),
            max_records=self.opts.scan_max_records, max_seconds=self.opts.scan_max_seconds,
        )
        if mode == "offset":
            spec.offset = parse_offset(q.get("offset"))
        elif mode == "timestamp":
            spec.timestamp = parse_timestamp(q.get("timestamp"))
        elif mode == "cursor":
            spec.cursor = parse_cursor(q.get("cursor"))
        flt = (q.get("filter") or "").strip()
        if len(flt) > 500:
            raise InputError("The filter is longer than 500 characters.")
        spec.filter = flt or None
        return spec

    async def messages(self, req: Request) -> Response:
        name = self._topic(req)
        info = await self.service.topic_info(name)
        notice = Markup("")
        if req.query.get("run"):
            try:
                self._scan_spec(name, req.query)
            except InputError as e:
                notice = message("error", str(e))
        return self._html(200, views.messages_page(
            self.page(req), name, len(info.partitions), req.query, max_seconds=self.opts.scan_max_seconds,
            max_records=self.opts.scan_max_records, notice=notice,
        ))

    async def messages_stream(self, req: Request) -> Response:
        ndjson = "application/x-ndjson; charset=utf-8"
        try:
            name = self._topic(req)
            spec = self._scan_spec(name, req.query)
        except InputError as e:
            return Response(400, json.dumps({"type": "error", "message": str(e)}) + "\n", ndjson)
        hide = self.opts.hide_values
        fields = self._fields(req, topic=name)

        async def events():
            finished = False
            try:
                async for ev in self.service.scan(spec, req.disconnected):
                    kind = ev["type"]
                    if kind == "record":
                        out: dict[str, Any] = {"type": "record", "html": str(views.record_row(name, ev["record"], hide_values=hide))}
                    elif kind == "done":
                        out = dict(ev)
                        cursor = ev.get("cursor")
                        if cursor and ev["reason"] in ("limit", "budget", "time"):
                            q = {k: v for k, v in req.query.items() if k in ("partition", "limit", "filter")}
                            q.update(mode="cursor", cursor=format_cursor(cursor), run="1")
                            out["more_url"] = url("/topics", name, "messages", query=q)
                        out.pop("cursor", None)
                        finished = ev["reason"] != "cancelled"
                    else:
                        out = ev
                    yield (json.dumps(out) + "\n").encode()
            except (NotFound, InputError) as e:
                finished = True
                yield (json.dumps({"type": "error", "message": str(e)}) + "\n").encode()
            except UNREACHABLE as e:
                finished = True
                text = getattr(e, "message", None) or str(e)
                log.warning("scan failed, cluster unreachable: %s", text, extra={"fields": fields})
                yield (json.dumps({"type": "error", "message": f"The cluster is unreachable: {text}"}) + "\n").encode()
            except KafkaError as e:
                finished = True
                log.warning("scan failed: %s: %s", e.name, e.message, extra={"fields": fields})
                yield (json.dumps({"type": "error", "message": f"{e.name}: {e.message}"}) + "\n").encode()
            finally:
                if not finished:
                    log.info("scan of %s cancelled: the browser went away", name, extra={"fields": fields})

        return Response(200, b"", ndjson, stream=events())

    def _record_params(self, req: Request) -> tuple[str, int, int]:
        return (
            self._topic(req),
            parse_int(req.query.get("partition"), "The partition", minimum=0, maximum=2**31 - 1),
            parse_offset(req.query.get("offset")),
        )

    async def record(self, req: Request) -> Response:
        name, partition, offset = self._record_params(req)
        r, why = await self.service.fetch_record(name, partition, offset)
        return self._html(200, views.record_page(self.page(req), name, partition, offset, r, why))

    async def record_raw(self, req: Request) -> Response:
        name, partition, offset = self._record_params(req)
        part = req.query.get("part", "value")
        if part not in ("key", "value"):
            raise InputError("part must be key or value.")
        if part == "value" and self.opts.hide_values:
            return self._html(403, views.error_page(self.page(req), "Hidden", "Record values are hidden in this console."))
        r, why = await self.service.fetch_record(name, partition, offset)
        if r is None:
            raise NotFound(why or "No record.")
        data = r.key if part == "key" else r.value
        return Response(200, data or b"", "application/octet-stream", headers=[
            ("Content-Disposition", f'attachment; filename="{name}-{partition}-{offset}.{part}.bin"'),
        ])

    # ------------------------------------------------------------------ produce

    async def produce_form(self, req: Request) -> Response:
        name = self._topic(req)
        info = await self.service.topic_info(name)
        return self._html(200, views.produce_page(self.page(req), name, len(info.partitions), {}, notice=self.take_flash(req)))

    async def produce(self, req: Request) -> Response:
        name = self._topic(req)
        f = req.form
        info = await self.service.topic_info(name)
        try:
            part = f.get("partition", "")
            partition = None if part == "" else parse_int(part, "The partition", minimum=0, maximum=2**31 - 1)
            key = f.get("key", "")
            value = None if f.get("null_value") else f.get("value", "").replace("\r\n", "\n").encode()
            headers = parse_headers(f.get("headers"))
            md = await self.service.produce(name, partition=partition, key=key.encode() if key else None, value=value, headers=headers)
        except (InputError, KafkaError) as e:
            if isinstance(e, UNREACHABLE):
                raise
            text = str(e) if isinstance(e, InputError) else (f"{e.name}: {e.message}" if e.message else e.name)
            return self._html(400, views.produce_page(self.page(req), name, len(info.partitions), f, notice=message("error", text)))
        log.info("produced to %s-%s at %s", name, md.partition, md.offset, extra={"fields": self._fields(req, topic=name)})
        link = url("/topics", name, "messages", query={"partition": md.partition, "mode": "offset", "offset": md.offset, "run": 1})
        notice = message("ok", html('Produced to partition {} at offset <span data-testid="produced-offset">{}</span>. <a href="{}">See it</a>', md.partition, md.offset, link))
        return self.redirect(url("/topics", name, "produce", query={"flash": self.flash(notice)}))

    # ------------------------------------------------------------------ groups

    async def groups(self, req: Request) -> Response:
        rows = await self.service.group_list()
        return self._html(200, views.groups_page(self.page(req), rows, q=req.query.get("q", "")[:500]))

    async def group(self, req: Request) -> Response:
        gid = parse_group_id(req.params[0])
        d = await self.service.group_detail(gid)
        if req.query.get("fragment") == "lag":
            return self._html(200, str(views.lag_section(self.page(req), gid, d)))
        return self._html(200, views.group_page(self.page(req), gid, d, notice=self.take_flash(req)))

    async def reset_preview(self, req: Request) -> Response:
        gid = parse_group_id(req.params[0])
        q = req.query
        topic = parse_topic_name(q["topic"]) if q.get("topic") else None
        partition = parse_int(q.get("partition"), "The partition", minimum=0, maximum=2**31 - 1) if q.get("partition", "").strip() else None
        if partition is not None and topic is None:
            raise InputError("Choose a topic to reset one partition.")
        strategy = q.get("strategy", "")
        if strategy in ("offset", "timestamp", "shift") and not q.get("value", "").strip():
            raise InputError({"offset": "Give the offset to reset to.", "timestamp": "Give the time to reset to.", "shift": "Give the number to shift by (negative: back)."}[strategy])
        rows = await self.service.plan_reset(gid, topic, partition, strategy, q.get("value"))
        desc = (await self.service.admin.describe_groups([gid])).get(gid)
        return self._html(200, views.reset_preview_page(self.page(req), gid, rows, dict(q), desc.state if desc else "Dead", len(desc.members) if desc else 0))

    async def reset_apply(self, req: Request) -> Response:
        gid = parse_group_id(req.params[0])
        offsets: dict[TopicPartition, int] = {}
        for item in (req.form.get("offsets") or "").split(","):
            if not item:
                continue
            parts = item.rsplit(":", 2)
            if len(parts) != 3:
                raise InputError(f"Bad offset {item!r}: expected topic:partition:offset.")
            topic = parse_topic_name(parts[0])
            offsets[TopicPartition(topic, parse_int(parts[1], "The partition", minimum=0, maximum=2**31 - 1))] = parse_offset(parts[2])
        if not offsets:
            raise InputError("No offsets to apply.")
        try:
            await self.service.apply_reset(gid, offsets)
        except InputError as e:
            d = await self.service.group_detail(gid)
            return self._html(409, views.group_page(self.page(req), gid, d, notice=message("error", str(e))))
        except KafkaError as e:
            if isinstance(e, UNREACHABLE):
                raise
            d = await self.service.group_detail(gid)
            hint = " (the group has active members)" if e.code in (ErrorCode.unknown_member_id, ErrorCode.illegal_generation, ErrorCode.rebalance_in_progress) else ""
            return self._html(409, views.group_page(self.page(req), gid, d, notice=message("error", f"{e.name}: {e.message}{hint}")))
        log.info("offsets of group %s reset: %s", gid, {str(tp): o for tp, o in offsets.items()}, extra={"fields": self._fields(req, group=gid)})
        n = len(offsets)
        return self.redirect(url("/groups", gid, query={"flash": self.flash(message("ok", f"Committed new offsets for {n} partition{'s' if n != 1 else ''}."))}))


# ============================================================================ logging
# JSON lines as ``odradek serve`` writes them (odradek.logformat); text lines add a warning's fields


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and record.levelno >= logging.WARNING:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


def setup_logging(fmt: str, level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))


__all__ += ["JsonFormatter", "setup_logging"]
