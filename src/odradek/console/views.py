"""The console's pages as HTML. Every dynamic value goes through :func:`~.markup.html` (escaped).

Functions here take plain data (from :mod:`.service`) and return :class:`~.markup.Markup`; they
never talk to a cluster.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..client.types import ConsumerRecord
from .decode import FULL_LIMIT, PREVIEW_LIMIT, Decoded, decode_bytes
from .markup import Markup, attrs, html, join, url

__all__ = ["Page", "layout"]


@dataclass
class Page:
    """What every page needs to know about the console and the request."""

    bootstrap: str
    read_only: bool
    hide_values: bool
    csrf_token: str
    user: str | None = None
    lag_interval: float = 10.0

    @property
    def can_change(self) -> bool:
        return not self.read_only

    def csrf(self) -> Markup:
        return html('<input type="hidden" name="_csrf" value="{}">', self.csrf_token)


# ============================================================================ formatting


def fmt_bytes(n: int | None) -> str:
    if n is None or n < 0:
        return "–"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def fmt_ts(ms: int | None) -> str:
    if ms is None or ms < 0:
        return "–"
    try:
        return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return str(ms)


def fmt_num(n: int | None) -> str:
    return "–" if n is None else str(n)


def nodes(ids: Iterable[int]) -> str:
    ids = list(ids)
    return ", ".join(str(i) for i in ids) if ids else "–"


def badge(text: str, kind: str = "") -> Markup:
    return html('<span class="badge {}">{}</span>', kind, text)


def _table(headers: Sequence[str], rows: Iterable[Markup], *, testid: str | None = None, cls: str = "") -> Markup:
    head = join(html("<th>{}</th>", h) for h in headers)
    body = join(rows)
    if not body:
        body = html('<tr><td colspan="{}" class="empty">none</td></tr>', len(headers))
    return html('<table class="grid {}"{}><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', cls, attrs(data_testid=testid), head, body)


def message(kind: str, text: str | Markup) -> Markup:
    """A notice: kind is ``error``, ``ok`` or ``warn``."""
    role = "alert" if kind == "error" else "status"
    return html('<div class="notice {}" role="{}" data-testid="notice-{}">{}</div>', kind, role, kind, text)


# ============================================================================ layout


def layout(page: Page, title: str, body: Markup, *, section: str = "", head: Markup = Markup(""), notice: Markup = Markup("")) -> str:
    nav = join(
        html('<a href="{}"{}>{}</a>', href, attrs(class_="active" if section == key else None, aria_current="page" if section == key else None), label)
        for key, href, label in (("cluster", "/", "Cluster"), ("topics", "/topics", "Topics"), ("groups", "/groups", "Consumer groups"))
    )
    modes = []
    if page.read_only:
        modes.append(html('<span class="badge warn" data-testid="read-only" title="changing actions are refused">read-only</span>'))
    if page.hide_values:
        modes.append(html('<span class="badge warn" data-testid="hide-values" title="record values are not shown">values hidden</span>'))
    user = html('<span class="user">{}</span>', page.user) if page.user else Markup("")
    return str(html(
        """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Odradek console</title>
<link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script>{head}
</head><body>
<header class="top"><a class="brand" href="/">Odradek console</a><nav>{nav}</nav>
<div class="modes">{modes}<span class="where" title="bootstrap servers">{bootstrap}</span>{user}</div></header>
<main>{notice}<h1>{title}</h1>
{body}
</main></body></html>
""",
        title=title, head=head, nav=nav, modes=join(modes), bootstrap=page.bootstrap, user=user, notice=notice, body=body,
    ))


def error_page(page: Page, title: str, text: str) -> str:
    return layout(page, title, message("error", text))


def unreachable_page(page: Page, error: str) -> str:
    body = html(
        '<div class="notice error" role="alert" data-testid="unreachable"><strong>The cluster at {} is unreachable.</strong> '
        "{}<br>This page tries again every 5 seconds.</div>",
        page.bootstrap, error,
    )
    return layout(page, "Cluster unreachable", body, head=Markup('<meta http-equiv="refresh" content="5">'))


# ============================================================================ cluster


def overview_page(page: Page, ov: Any) -> str:
    health = (
        html('<p class="health ok" data-testid="health">{} Healthy: every partition has a leader and a full ISR.</p>', "●")
        if ov.healthy else
        html(
            '<p class="health bad" data-testid="health">{} {} offline, {} under-replicated partition(s){}{}.</p>',
            "●", len(ov.offline), len(ov.under_replicated), "" if ov.controller_id >= 0 else "; no controller",
            f"; broker {nodes(ov.silent)} not answering" if ov.silent else "",
        )
    )
    facts = html(
        '<dl class="facts"><dt>Cluster id</dt><dd>{}</dd><dt>Controller</dt><dd data-testid="controller">{}</dd>'
        "<dt>Brokers</dt><dd>{}</dd><dt>Topics</dt><dd>{} (+{} internal)</dd><dt>Partitions</dt><dd>{}</dd></dl>",
        ov.cluster_id or "–", ov.controller_id if ov.controller_id >= 0 else "none", len(ov.brokers), ov.topics, ov.internal_topics, ov.partitions,
    )
    brokers = _table(
        ["Id", "Address", "Rack", "Role", "Leaders", "Replicas", "Log size", "Disk usable / total"],
        (
            html(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td></tr>",
                b.node_id, b.address, b.rack or "–",
                join([badge("controller", "ok") if b.controller else "broker", badge("not answering", "bad") if b.node_id in ov.silent else ""]),
                b.leaders, b.replicas,
                fmt_bytes(b.log_bytes), f"{fmt_bytes(b.disk_usable)} / {fmt_bytes(b.disk_total)}" if b.disk_total >= 0 else (b.error or "–"),
            )
            for b in ov.brokers
        ),
        testid="brokers",
    )
    problems = Markup("")
    if ov.offline or ov.under_replicated:
        rows = [html('<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>', url("/topics", t), t, p, "offline") for t, p in ov.offline[:200]]
        rows += [html('<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>', url("/topics", t), t, p, "under-replicated") for t, p in ov.under_replicated[:200]]
        problems = html("<h2>Partitions needing attention</h2>{}", _table(["Topic", "Partition", "Problem"], rows, testid="problems"))
    return layout(page, "Cluster", html("{}{}<h2>Brokers</h2>{}{}", health, facts, brokers, problems), section="cluster")


# ============================================================================ topics


def topics_page(page: Page, rows: list[Any], *, q: str, internal: bool, page_no: int, per_page: int, notice: Markup = Markup("")) -> str:
    needle = q.casefold()
    shown = [r for r in rows if needle in r.name.casefold()]
    pages = max(1, (len(shown) + per_page - 1) // per_page)
    page_no = min(max(1, page_no), pages)
    chunk = shown[(page_no - 1) * per_page : page_no * per_page]
    search = html(
        '<form class="inline" method="get" action="/topics" role="search">'
        '<input type="search" name="q" value="{}" placeholder="search topics" aria-label="search topics" data-testid="topic-search">'
        '<label><input type="checkbox" name="internal" value="1"{}> internal</label> <button>Search</button></form>',
        q, attrs(checked=internal),
    )
    actions = html('<a class="button" href="/new-topic" data-testid="create-topic">Create topic</a>') if page.can_change else Markup("")
    table = _table(
        ["Topic", "Partitions", "Replication", "Under-replicated", "Offline", "Size"],
        (
            html(
                '<tr data-testid="topic-row"><td><a href="{}">{}</a>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td></tr>',
                url("/topics", r.name), r.name, badge("internal") if r.internal else "", r.partitions, r.replication,
                r.under_replicated, r.offline, fmt_bytes(r.size),
            )
            for r in chunk
        ),
        testid="topics",
    )
    pager = Markup("")
    if pages > 1:
        links = []
        for n in range(1, pages + 1):
            if n == page_no:
                links.append(html("<strong>{}</strong>", n))
            else:
                links.append(html('<a href="{}">{}</a>', url("/topics", query={"q": q, "internal": "1" if internal else None, "page": n}), n))
        pager = html('<nav class="pager">{}</nav>', join(links, " "))
    count = html('<p class="muted">{} of {} topics</p>', len(shown), len(rows))
    return layout(page, "Topics", html('<div class="bar">{}{}</div>{}{}{}', search, actions, count, table, pager), section="topics", notice=notice)


def topic_new_page(page: Page, values: dict[str, str], error: str | None = None) -> str:
    form = html(
        """<form method="post" action="/topics" class="form" data-testid="create-topic-form">{csrf}
<label>Name <input name="name" required maxlength="249" value="{name}" pattern="[a-zA-Z0-9._-]+" title="letters, digits, . _ -"></label>
<label>Partitions <input name="partitions" inputmode="numeric" value="{partitions}" placeholder="broker default"></label>
<label>Replication factor <input name="replication" inputmode="numeric" value="{replication}" placeholder="broker default"></label>
<label>Configs (one key=value a line) <textarea name="configs" rows="4" placeholder="retention.ms=86400000">{configs}</textarea></label>
<button type="submit">Create</button> <a href="/topics">Cancel</a></form>""",
        csrf=page.csrf(), name=values.get("name", ""), partitions=values.get("partitions", ""), replication=values.get("replication", ""),
        configs=values.get("configs", ""),
    )
    return layout(page, "Create topic", form, section="topics", notice=message("error", error) if error else Markup(""))


def _partition_state(p: Any, min_isr: int | None) -> Markup:
    if p.leader < 0:
        return badge("offline", "bad")
    if min_isr is not None and len(p.isr) < min_isr:
        return badge("under min ISR", "bad")
    if len(p.isr) < len(p.replicas):
        return badge("under-replicated", "warn")
    return badge("ok", "ok")


def topic_page(page: Page, d: Any, *, notice: Markup = Markup(""), config_values: dict[str, str] | None = None) -> str:
    name = d.info.name
    entry = d.configs.get("min.insync.replicas")
    min_isr = int(entry.value) if entry is not None and entry.value and entry.value.isdigit() else None
    tabs = html(
        '<p class="tabs"><a href="{}">Messages</a>{}</p>',
        url("/topics", name, "messages"),
        html(' <a href="{}" data-testid="produce-link">Produce</a>', url("/topics", name, "produce")) if page.can_change else "",
    )
    facts = html(
        '<dl class="facts"><dt>Partitions</dt><dd>{}</dd><dt>Replication</dt><dd>{}</dd><dt>Topic id</dt><dd>{}</dd>'
        "<dt>Records</dt><dd>{}</dd><dt>Size</dt><dd>{}</dd></dl>",
        len(d.partitions), d.replication, d.info.topic_id or "–",
        fmt_num(sum(p.records or 0 for p in d.partitions)), fmt_bytes(sum(p.size or 0 for p in d.partitions)),
    )
    parts = _table(
        ["Partition", "Leader", "Replicas", "ISR", "Log start", "High watermark", "Log end", "Records", "Size", "State"],
        (
            html(
                '<tr data-testid="partition-row"><td class=num><a href="{}">{}</a></td><td class=num>{}</td><td>{}</td><td>{}</td>'
                "<td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td>{}</td></tr>",
                url("/topics", name, "messages", query={"partition": p.partition, "mode": "newest", "run": 1}), p.partition,
                p.leader if p.leader >= 0 else "none", nodes(p.replicas), nodes(p.isr), fmt_num(p.log_start), fmt_num(p.high_watermark),
                fmt_num(p.log_end), fmt_num(p.records), fmt_bytes(p.size),
                _partition_state(p, min_isr),
            )
            for p in d.partitions
        ),
        testid="partitions",
    )
    if d.config_error:
        configs = message("error", f"Configs could not be read: {d.config_error}")
    else:
        configs = _table(
            ["Config", "Value", "Source"],
            (
                html(
                    '<tr class="{}"><td>{}</td><td class="cfg">{}</td><td>{}</td></tr>',
                    "default" if c.default else "set", c.name, "(sensitive)" if c.sensitive else ("–" if c.value is None else c.value), c.source,
                )
                for c in sorted(d.configs.values(), key=lambda c: (c.default, c.name))  # the ones set first
            ),
            testid="configs", cls="configs",
        )
    edit = Markup("")
    danger = Markup("")
    if page.can_change:
        cv = config_values or {}
        edit = html(
            """<form method="post" action="{action}" class="form inline" data-testid="config-form">{csrf}
<label>Config <input name="key" value="{key}" list="config-names" required></label>
<label>Value <input name="value" value="{value}"></label>
<button name="op" value="set">Set</button> <button name="op" value="delete" title="back to the default">Revert to default</button>
<datalist id="config-names">{names}</datalist></form>""",
            action=url("/topics", name, "config"), csrf=page.csrf(), key=cv.get("key", ""), value=cv.get("value", ""),
            names=join(html('<option value="{}">', k) for k in d.configs),
        )
        danger = html(
            """<h2>Delete topic</h2><form method="post" action="{action}" class="form inline danger" data-testid="delete-form">{csrf}
<label>Type the topic's name to delete it and all its records <input name="confirm" autocomplete="off"></label>
<button class="danger">Delete topic</button></form>""",
            action=url("/topics", name, "delete"), csrf=page.csrf(),
        )
    body = html("{}{}<h2>Partitions</h2>{}<h2>Configs</h2>{}{}{}", tabs, facts, parts, edit, configs, danger)
    return layout(page, f"Topic {name}", body, section="topics", notice=notice)


# ============================================================================ records


def value_cell(d: Decoded, link: str | None, *, testid: str) -> Markup:
    if d.kind == "null":
        return html('<span class="null" data-testid="{}">null</span>', testid)
    more = Markup("")
    if d.truncated:
        more = html('<div class="more">… {} in all{}</div>', fmt_bytes(d.size), html(' · <a href="{}">show all</a>', link) if link else "")
    return html('<pre class="val kind-{}" data-kind="{}" data-testid="{}">{}</pre>{}', d.kind, d.kind, testid, d.text, more)


def headers_cell(headers: Sequence[tuple[str, bytes | None]], limit: int = 256) -> Markup:
    if not headers:
        return Markup("")
    items = []
    for k, v in headers:
        d = decode_bytes(v, limit)
        items.append(html('<li><span class="hk">{}</span>: {}</li>', k, value_cell(d, None, testid="header-value")))
    return html('<ul class="headers">{}</ul>', join(items))


def record_row(topic: str, r: ConsumerRecord, *, hide_values: bool) -> Markup:
    link = url("/topics", topic, "record", query={"partition": r.partition, "offset": r.offset})
    key = value_cell(decode_bytes(r.key, 256, hex_limit=64), link, testid="key")
    if hide_values:
        value = html('<span class="hidden" data-testid="value">hidden ({})</span>', fmt_bytes(len(r.value)) if r.value is not None else "null")
    else:
        value = value_cell(decode_bytes(r.value, PREVIEW_LIMIT, hex_limit=256), link, testid="value")
    return html(
        '<tr data-testid="record" data-partition="{}" data-offset="{}"><td class=num>{}</td><td class=num><a href="{}">{}</a></td>'
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        r.partition, r.offset, r.partition, link, r.offset, fmt_ts(r.timestamp), key, value, headers_cell(r.headers),
    )


def messages_page(page: Page, topic: str, partitions: int, q: dict[str, str], *, max_seconds: float, max_records: int, notice: Markup = Markup("")) -> str:
    mode = q.get("mode") or "newest"
    part_opts = join(
        [html('<option value="">all</option>')]
        + [html('<option value="{}"{}>{}</option>', p, attrs(selected=q.get("partition") == str(p)), p) for p in range(partitions)]
    )
    modes = [("newest", "newest N"), ("earliest", "from the beginning"), ("offset", "from an offset"), ("timestamp", "from a time")]
    cursor = Markup("")
    if mode == "cursor":
        modes.append(("cursor", "where the last scan stopped"))
        cursor = html('<input type="hidden" name="cursor" value="{}">', q.get("cursor", ""))
    mode_opts = join(html('<option value="{}"{}>{}</option>', v, attrs(selected=mode == v), label) for v, label in modes)
    filter_note = " (keys and headers only: values are hidden)" if page.hide_values else ""
    form = html(
        """<form class="form scan" method="get" action="{action}" data-scan="{stream}" data-testid="scan-form">
<input type="hidden" name="run" value="1">{cursor}
<label>Partition <select name="partition" data-testid="scan-partition">{parts}</select></label>
<label>Start <select name="mode" data-testid="scan-mode">{modes}</select></label>
<label>Offset <input name="offset" inputmode="numeric" value="{offset}" data-testid="scan-offset" size="10"></label>
<label>Time <input name="timestamp" value="{timestamp}" placeholder="2026-11-25T10:00 / -1h / ms" data-testid="scan-timestamp" size="22"></label>
<label>Max results <input name="limit" inputmode="numeric" value="{limit}" size="5" data-testid="scan-limit"></label>
<label>Filter{fnote} <input type="search" name="filter" value="{filter}" placeholder="text in key, value or headers" data-testid="scan-filter"></label>
<button type="submit" data-testid="scan-run">Show</button> <button type="button" data-scan-cancel disabled data-testid="scan-cancel">Cancel</button>
</form>
<p class="muted">A scan stops after {max_records} records looked at or {max_seconds} s; times without a zone are UTC.</p>
<p class="status" data-scan-status data-testid="scan-status" aria-live="polite"></p>
<noscript><div class="notice warn">The message browser needs JavaScript.</div></noscript>
<table class="grid records" data-testid="records"><thead><tr><th>Partition</th><th>Offset</th><th>Timestamp (UTC)</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead>
<tbody data-scan-rows></tbody></table>
<p data-scan-more></p>""",
        action=url("/topics", topic, "messages"), stream=url("/topics", topic, "messages", "stream"), parts=part_opts, modes=mode_opts, cursor=cursor,
        offset=q.get("offset", ""), timestamp=q.get("timestamp", ""), limit=q.get("limit") or "50", fnote=filter_note, filter=q.get("filter", ""),
        max_records=max_records, max_seconds=f"{max_seconds:g}",
    )
    tabs = html(
        '<p class="tabs"><a href="{}">Topic</a>{}</p>', url("/topics", topic),
        html(' <a href="{}">Produce</a>', url("/topics", topic, "produce")) if page.can_change else "",
    )
    return layout(page, f"Messages of {topic}", html("{}{}", tabs, form), section="topics", notice=notice)


def record_page(page: Page, topic: str, partition: int, offset: int, r: ConsumerRecord | None, why: str | None) -> str:
    back = html('<p class="tabs"><a href="{}">Messages</a></p>', url("/topics", topic, "messages", query={"partition": partition, "mode": "offset", "offset": offset, "run": 1}))
    if r is None:
        return layout(page, f"{topic} / {partition} / {offset}", html("{}{}", back, message("warn", why or "No record.")), section="topics")
    raw = url("/topics", topic, "record", "raw", query={"partition": partition, "offset": offset, "part": "key"})
    key = value_cell(decode_bytes(r.key, FULL_LIMIT), raw, testid="key")
    if page.hide_values:
        value = html('<span class="hidden" data-testid="value">hidden ({})</span>', fmt_bytes(len(r.value)) if r.value is not None else "null")
    else:
        value = value_cell(decode_bytes(r.value, FULL_LIMIT), url("/topics", topic, "record", "raw", query={"partition": partition, "offset": offset, "part": "value"}), testid="value")
    facts = html(
        '<dl class="facts"><dt>Partition</dt><dd>{}</dd><dt>Offset</dt><dd>{}</dd><dt>Timestamp</dt><dd>{} ({}, {})</dd>'
        "<dt>Key size</dt><dd>{}</dd><dt>Value size</dt><dd>{}</dd><dt>Leader epoch</dt><dd>{}</dd></dl>",
        r.partition, r.offset, fmt_ts(r.timestamp), r.timestamp, "LogAppendTime" if r.timestamp_type == 1 else "CreateTime",
        "null" if r.key is None else fmt_bytes(len(r.key)), "null" if r.value is None else fmt_bytes(len(r.value)), r.leader_epoch,
    )
    body = html("{}{}<h2>Key</h2>{}<h2>Value</h2>{}<h2>Headers</h2>{}", back, facts, key, value, headers_cell(r.headers, FULL_LIMIT) or Markup('<p class="muted">none</p>'))
    return layout(page, f"{topic} / {partition} / {offset}", body, section="topics")


def produce_page(page: Page, topic: str, partitions: int, values: dict[str, str], *, notice: Markup = Markup("")) -> str:
    opts = join(
        [html('<option value="">by key (or spread)</option>')]
        + [html('<option value="{}"{}>{}</option>', p, attrs(selected=values.get("partition") == str(p)), p) for p in range(partitions)]
    )
    form = html(
        """<p class="tabs"><a href="{topic_url}">Topic</a> <a href="{messages}">Messages</a></p>
<form method="post" action="{action}" class="form" data-testid="produce-form">{csrf}
<label>Partition <select name="partition" data-testid="produce-partition">{opts}</select></label>
<label>Key (empty: no key) <input name="key" value="{key}" data-testid="produce-key"></label>
<label>Value <textarea name="value" rows="6" data-testid="produce-value">{value}</textarea></label>
<label><input type="checkbox" name="null_value" value="1"{null}> null value (a tombstone)</label>
<label>Headers (one name: value a line) <textarea name="headers" rows="3" data-testid="produce-headers">{headers}</textarea></label>
<button type="submit" data-testid="produce-send">Produce</button></form>""",
        topic_url=url("/topics", topic), messages=url("/topics", topic, "messages"), action=url("/topics", topic, "produce"), csrf=page.csrf(),
        opts=opts, key=values.get("key", ""), value=values.get("value", ""), null=attrs(checked=bool(values.get("null_value"))),
        headers=values.get("headers", ""),
    )
    return layout(page, f"Produce to {topic}", form, section="topics", notice=notice)


# ============================================================================ groups


def groups_page(page: Page, rows: list[Any], *, q: str) -> str:
    needle = q.casefold()
    shown = [r for r in rows if needle in r.group_id.casefold()]
    search = html(
        '<form class="inline" method="get" action="/groups" role="search"><input type="search" name="q" value="{}" placeholder="search groups" aria-label="search groups"> <button>Search</button></form>',
        q,
    )
    table = _table(
        ["Group", "State", "Protocol type", "Members", "Lag"],
        (
            html(
                '<tr data-testid="group-row"><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td class=num>{}</td><td class=num>{}</td></tr>',
                url("/groups", g.group_id), g.group_id, g.state or "–", g.protocol_type or "–", fmt_num(g.members), fmt_num(g.lag),
            )
            for g in shown
        ),
        testid="groups",
    )
    note = html('<p class="muted">Members and lag as last sampled (every {} s).</p>', f"{page.lag_interval:g}")
    return layout(page, "Consumer groups", html("{}{}{}", search, table, note), section="groups")


def sparkline(values: Sequence[int | None], *, width: int = 160, height: int = 28, label: str = "lag") -> Markup:
    """A small SVG line of ``values`` (None are gaps), scaled to its own maximum."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 1:
        return html('<svg class="spark" width="{}" height="{}" role="img" aria-label="no {} samples yet"></svg>', width, height, label)
    top = max(v for _, v in pts) or 1
    n = max(len(values) - 1, 1)
    pad = 2

    def xy(i: int, v: int) -> str:
        x = pad + (width - 2 * pad) * i / n
        y = height - pad - (height - 2 * pad) * v / top
        return f"{x:.1f},{y:.1f}"

    points = " ".join(xy(i, v) for i, v in pts)
    last = pts[-1]
    return html(
        '<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}: {n} samples, latest {latest}, highest {top}" '
        'data-samples="{n}"><polyline points="{points}" /><circle cx="{cx}" cy="{cy}" r="2" /></svg>',
        w=width, h=height, label=label, n=len(pts), latest=last[1], top=top, points=points,
        cx=xy(*last).split(",")[0], cy=xy(*last).split(",")[1],
    )


def lag_chart(samples: Sequence[Any], *, width: int = 640, height: int = 140) -> Markup:
    """Total lag over time, with the time span and the highest value labelled."""
    pts = [(s.at_ms, s.total) for s in samples if s.total is not None]
    if not pts:
        return html('<p class="muted" data-testid="lag-chart">No lag samples yet.</p>')
    t0, t1 = pts[0][0], pts[-1][0]
    span = max(t1 - t0, 1)
    top = max(v for _, v in pts) or 1
    left, right, topm, bottom = 48, 8, 8, 20
    w, h = width - left - right, height - topm - bottom

    def xy(t: int, v: int) -> tuple[float, float]:
        return left + w * (t - t0) / span, topm + h - h * v / top

    points = " ".join("{:.1f},{:.1f}".format(*xy(t, v)) for t, v in pts)
    return html(
        '<svg class="chart" data-testid="lag-chart" data-samples="{n}" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
        'aria-label="total lag over the last {secs} s: {n} samples, latest {latest}">'
        '<line class="axis" x1="{l}" y1="{y0}" x2="{x1}" y2="{y0}" /><line class="axis" x1="{l}" y1="{t}" x2="{l}" y2="{y0}" />'
        '<text x="{lt}" y="{ty}" text-anchor="end">{top}</text><text x="{lt}" y="{y0}" text-anchor="end">0</text>'
        '<text x="{l}" y="{H}" >{start}</text><text x="{x1}" y="{H}" text-anchor="end">{end}</text>'
        '<polyline points="{points}" /></svg>',
        n=len(pts), W=width, H=height, secs=round(span / 1000), latest=pts[-1][1], l=left, y0=topm + h, x1=left + w, t=topm,
        lt=left - 4, ty=topm + 10, top=top, start=fmt_ts(t0)[11:19], end=fmt_ts(t1)[11:19], points=points,
    )


def lag_section(page: Page, group_id: str, d: Any) -> Markup:
    owners: dict[Any, str] = {}
    for m in d.description.members:
        for tp in m.assignment:
            owners[tuple(tp)] = m.client_id or m.member_id
    hist = d.history[-60:]  # service.PARTITION_SAMPLES: older samples keep only the total
    rows = []
    for o in d.offsets:
        key = (o.topic, o.partition)
        series = [s.partitions.get(key) for s in hist]
        rows.append(html(
            '<tr data-testid="lag-row" data-topic="{}" data-partition="{}"><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td>'
            '<td class=num>{}</td><td class="num lag" data-testid="lag">{}</td><td>{}</td><td>{}</td></tr>',
            o.topic, o.partition, o.topic, o.partition, o.log_start_offset, o.log_end_offset, fmt_num(o.committed), fmt_num(o.lag),
            sparkline(series, label=f"lag of {o.topic}-{o.partition}"), owners.get(key, "–"),
        ))
    total = d.total_lag
    return html(
        '<p>Total lag: <strong data-testid="total-lag">{}</strong> <span class="muted">(sampled every {} s; {} samples kept)</span></p>{}{}',
        fmt_num(total), f"{page.lag_interval:g}", len(d.history), lag_chart(d.history),
        _table(["Topic", "Partition", "Log start", "Log end", "Committed", "Lag", "Lag over time", "Member"], rows, testid="lag-table"),
    )


def group_page(page: Page, group_id: str, d: Any, *, notice: Markup = Markup("")) -> str:
    desc = d.description
    facts = html(
        '<dl class="facts"><dt>State</dt><dd data-testid="group-state">{}</dd><dt>Protocol</dt><dd>{} {}</dd><dt>Coordinator</dt><dd>{}</dd>'
        "<dt>Members</dt><dd>{}</dd></dl>",
        desc.state, desc.protocol_type or "–", desc.protocol or "", desc.coordinator, len(desc.members),
    )
    members = _table(
        ["Member", "Client id", "Host", "Instance id", "Assigned partitions"],
        (
            html(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.member_id, m.client_id, m.client_host, m.group_instance_id or "–", ", ".join(f"{t}-{p}" for t, p in m.assignment) or "–",
            )
            for m in desc.members
        ),
        testid="members",
    )
    refresh_ms = max(1000, int(page.lag_interval * 1000)) if page.lag_interval > 0 else 10_000
    lag = html(
        '<div data-refresh="{}" data-refresh-ms="{}" data-testid="lag-section">{}</div>',
        url("/groups", group_id, query={"fragment": "lag"}), refresh_ms, lag_section(page, group_id, d),
    )
    reset = Markup("")
    if page.can_change:
        topics = sorted({o.topic for o in d.offsets})
        reset = html(
            """<h2>Reset offsets</h2><form method="get" action="{action}" class="form inline" data-testid="reset-form">
<label>Topic <select name="topic" data-testid="reset-topic"><option value="">all of the group's topics</option>{topics}</select></label>
<label>Partition <input name="partition" inputmode="numeric" size="5" placeholder="all" data-testid="reset-partition"></label>
<label>To <select name="strategy" data-testid="reset-strategy"><option value="earliest">earliest</option><option value="latest">latest</option>
<option value="offset">an offset</option><option value="timestamp">a time</option><option value="shift">shift by</option></select></label>
<label>Value <input name="value" size="20" placeholder="offset, time or ±N" data-testid="reset-value"></label>
<button type="submit" data-testid="reset-preview">Preview</button></form>
<p class="muted">The preview changes nothing. Offsets can be applied only while the group has no active members.</p>""",
            action=url("/groups", group_id, "reset"), topics=join(html('<option value="{}">{}</option>', t, t) for t in topics),
        )
    body = html("{}<h2>Members</h2>{}<h2>Lag</h2>{}{}", facts, members, lag, reset)
    return layout(page, f"Group {group_id}", body, section="groups", notice=notice)


def reset_preview_page(page: Page, group_id: str, rows: list[Any], params: dict[str, str], state: str, members: int) -> str:
    table = _table(
        ["Topic", "Partition", "Log start", "Log end", "Committed now", "New offset", "Note"],
        (
            html(
                '<tr data-testid="reset-row" data-partition="{}"><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td>'
                '<td class="num new" data-testid="reset-new">{}</td><td>{}</td></tr>',
                r.tp.partition, r.tp.topic, r.tp.partition, r.log_start, r.log_end, fmt_num(r.current), fmt_num(r.new), r.note,
            )
            for r in rows
        ),
        testid="reset-preview",
    )
    plan = ",".join(f"{r.tp.topic}:{r.tp.partition}:{r.new}" for r in rows if r.new is not None)
    warn = Markup("")
    if state not in ("Empty", "Dead"):
        warn = message("warn", f"The group is {state} with {members} member(s): applying will be refused until its consumers stop.")
    apply = html(
        """<form method="post" action="{action}" class="form inline" data-testid="reset-apply-form">{csrf}
<input type="hidden" name="offsets" value="{plan}"><button type="submit" data-testid="reset-apply">Apply these offsets</button>
<a href="{back}">Cancel</a></form>""",
        action=url("/groups", group_id, "reset"), csrf=page.csrf(), plan=plan, back=url("/groups", group_id),
    ) if plan else message("warn", "Nothing to apply.")
    what = html("<p>Reset to <strong>{}</strong>{}.</p>", params.get("strategy", ""), f" {params['value']}" if params.get("value") else "")
    return layout(page, f"Reset offsets of {group_id}", html("{}{}{}{}", what, warn, table, apply), section="groups")
