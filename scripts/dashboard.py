#!/usr/bin/env python3
"""The Grafana dashboard and its alert rules, described once here; writes both provisioning files.

    python scripts/dashboard.py           # writes deploy/grafana/dashboards/tornado-paste.json
                                          #    and deploy/grafana/provisioning/alerting/tornado-paste.yaml
    python scripts/dashboard.py --check   # exit 1 if either file is not what this description gives

A panel is a title, Graphite targets, a unit, a one-line "what to do when it is red" and, on
latency and error panels, the objective (a red threshold line). An alert rule names its panel and
reuses the panel's objective, so the line on the graph is the line that pages. Adding a metric:
add a target or a Panel to ``ROWS`` (and a line to the README's metrics table); the tests fail
until every metric in that table is read by some panel.

Aggregation: counters and timers are merged by StatsD across processes (``.rate``, ``.count``,
``upper_99``); levels are per-process gauges (``<prefix>.proc.<host>.<worker>.<name>``, see
tornado_paste/metrics/client.py) that a panel sums (what processes hold: requests, subscribers,
queues), or takes the min / max of per host (what they all see: free disk, blob bytes).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tornado-paste.json"
ALERTS = ROOT / "deploy" / "grafana" / "provisioning" / "alerting" / "tornado-paste.yaml"
DATASOURCE = {"type": "graphite", "uid": "tp-graphite"}
# Alert rules cannot use dashboard variables: they watch this prefix (``--alert-prefix`` to change it).
ALERT_PREFIX = "tornado_paste"

# Routes by latency class: each class has its own p99 objective (panel line and alert rule).
ROUTE_CLASSES = {
    "interactive": ("index", "preview", "qr", "short", "api_list", "api_file", "openapi", "healthz", "static",
                    "not_found", "other", "clients", "delete_page", "oembed", "api_docs",
                    # shares: collection and manage pages, the collections API, unlock (argon2 on a thread).
                    "collection", "manage", "api_collections", "api_collection", "unlock"),
    # upload_request: an upload-request link's page and its uploads; collection_zip: a streamed archive.
    "transfer": ("upload_form", "upload_put", "upload_raw", "tus", "raw", "download", "upload_request",
                 "collection_zip"),
    "images": ("resize", "poster"),
    # Long-lived by design (a long-poll waits up to its timeout, a WebSocket for hours): no latency objective.
    "feeds": ("events_poll", "ws"),
}
OBJECTIVE_MS = {"interactive": 300, "transfer": 10_000, "images": 2_000}
OBJECTIVES = {"5xx_percent": 1, "store_error_percent": 5, "executor_rejected_percent": 5, "disk_free_percent": 10,
              "delivery_lag_ms": 2_000, "store_p99_ms": 250, "fds_percent": 80}

# -- target helpers ------------------------------------------------------------------

P = "$prefix"
ALL_REQUESTS = f"stats.counters.{P}.http.*.status.*"


def counter(name: str) -> str:
    return f"stats.counters.{P}.{name}"


def timer(name: str) -> str:
    return f"stats.timers.{P}.{name}"


def level(name: str) -> str:
    """Every process's gauge ``name`` (``$host`` narrows to some hosts)."""
    return f"stats.gauges.{P}.proc.$host.*.{name}"


def host_node(name: str) -> int:
    """The host's node counted from the end of ``level(name)`` (the prefix may hold dots)."""
    return -(len(name.split(".")) + 2)


def alias(target: str, label: str) -> str:
    return f"alias({target}, '{label}')"


def or_zero(series: str) -> str:
    """``series`` summed, or 0 while no process ever sent it (a ratio or a rare counter reads 0, not "no data")."""
    return f"sumSeries({series}, scale(sumSeries({ALL_REQUESTS}.rate), 0))"


def max_or_zero(series: str) -> str:
    """The largest of ``series``, or 0 while none was ever sent (a feature not used yet reads 0)."""
    return f"maxSeries({series}, scale(sumSeries({ALL_REQUESTS}.rate), 0))"


def rate(name: str, label: str) -> str:
    return alias(or_zero(f"{counter(name)}.rate"), label)


def by(glob: str, node: int, agg: str = "sumSeries") -> str:
    return f"groupByNode({glob}, {node}, '{agg}')"


def percent(part: str, whole: str, label: str) -> str:
    return alias(f"asPercent({or_zero(part)}, sumSeries({whole}))", label)


def pcts(name: str) -> list[str]:
    return [alias(f"maxSeries({timer(name)}.upper_{q})", f"p{q}") for q in (50, 95, 99)]


def level_sum(name: str, label: str) -> str:
    return alias(f"sumSeries({level(name)})", label)


def level_by_host(name: str, agg: str = "sumSeries") -> str:
    return by(level(name), host_node(name), agg)


def routes(kind: str) -> str:
    return "{" + ",".join(ROUTE_CLASSES[kind]) + "}"


def class_p99(kind: str) -> str:
    return by(f"{timer('http.' + routes(kind) + '.time')}.upper_99", -3, "maxSeries")


FIVE_XX = percent(f"stats.counters.{P}.http.$route.status.5xx.rate", f"stats.counters.{P}.http.$route.status.*.rate",
                  "5xx %")

# -- the description -----------------------------------------------------------------


@dataclass
class Panel:
    title: str
    targets: list[str]
    unit: str
    description: str  # one line: what it shows and what to do when it is red
    red: float | None = None  # the objective: red at and above (``below``: under) this value
    below: bool = False
    kind: str = "timeseries"
    width: int = 8


@dataclass
class Row:
    title: str
    panels: list[Panel]


ROWS = [
    Row("Traffic and errors", [
        Panel("Requests/s", [alias(f"sumSeries({counter('http.$route.status.*')}.rate)", "requests/s")], "reqps",
              "Answered requests per second; a sudden drop to 0 with users about means the processes or the metrics "
              "path are down: check Processes reporting.", kind="stat", width=4),
        Panel("5xx ratio", [FIVE_XX], "percent",
              "Share of answers that are 5xx; red above 1%: find the route in Error ratio and Responses by code, then "
              "the store and disk rows.", red=OBJECTIVES["5xx_percent"], kind="stat", width=4),
        Panel("In flight", [level_sum("http.inflight", "in flight")], "short",
              "Requests being answered now, summed over every process; climbing without more traffic means something "
              "is stuck: look at store latency and the executor.", kind="stat", width=4),
        Panel("Processes reporting", [level_sum("up", "processes")], "short",
              "Worker processes sending metrics now; fewer than you run means workers died or cannot reach StatsD: "
              "check supervisord and the app log.", kind="stat", width=4),
        Panel("Lowest disk free", [alias(f"minSeries({level('disk.free_percent')})", "disk free %")], "percent",
              "Free space of the fullest data dir; red under 10%: delete expired files, grow the volume, or lower "
              "max_upload_size before uploads fail with 507.", red=OBJECTIVES["disk_free_percent"], below=True,
              kind="stat", width=4),
        Panel("Rate-limited/s", [rate("ratelimit.limited", "429/s")], "reqps",
              "Requests answered 429; a surge is one client over its budget (see Abuse), a plateau may mean the "
              "budgets are too small for real users.", kind="stat", width=4),
        Panel("Requests/s by status class", [by(f"{counter('http.$route.status.*')}.rate", -2)], "reqps",
              "Answers per second by status class; a 5xx band growing is red: follow Error ratio.", width=8),
        Panel("Error ratio", [FIVE_XX, percent(f"stats.counters.{P}.http.$route.status.4xx.rate",
                                               f"stats.counters.{P}.http.$route.status.*.rate", "4xx %")], "percent",
              "5xx and 4xx share of answers; 5xx above the 1% line pages (alert tp-5xx-ratio): see its runbook.",
              red=OBJECTIVES["5xx_percent"], width=8),
        Panel("Requests/s by route", [by(f"{counter('http.$route.status.*')}.rate", -4)], "reqps",
              "Answers per second per route; use it to tell which route a spike or an error burst belongs to.",
              width=8),
        Panel("p99 latency: interactive routes", [class_p99("interactive")], "ms",
              "Pages, API, short links, health: red above 300 ms (alert tp-p99-interactive): check store latency, "
              "then CPU of the processes.", red=OBJECTIVE_MS["interactive"], width=8),
        Panel("p99 latency: transfer routes", [class_p99("transfer")], "ms",
              "Uploads and downloads, which grow with file size: red above 10 s (alert tp-p99-transfer): check disk "
              "I/O and network; one huge file alone is not an incident.", red=OBJECTIVE_MS["transfer"], width=8),
        Panel("Responses/s by status code", [by(f"{counter('http.$route.code.*')}.rate", -2)], "reqps",
              "Answers per exact code; a new code appearing (503, 507, 499) tells which fault to look for.", width=8),
        Panel("In flight by host", [level_by_host("http.inflight")], "short",
              "Requests being answered per host; one host far above the others is stuck or gets the slow clients.",
              width=12),
        Panel("Clients gone before the answer/s by route", [by(f"{counter('http.$route.client_closed')}.rate", -3)],
              "reqps", "Requests whose client left first; a rise on one route means it became too slow for its users.",
              width=12),
    ]),
    Row("Uploads", [
        Panel("Upload throughput", [rate("upload.bytes", "uploaded")], "binBps",
              "Bytes/s of accepted uploads; a drop with steady upload counts means small files only, a drop to 0 "
              "with refusals rising is an incident (see Abuse and Capacity).", width=8),
        Panel("Uploads/s by way in", [by(f"{counter('upload.source.*')}.rate", -2),
                                      rate("upload.dedupe_hit", "dedupe hits"),
                                      alias(or_zero(f"{counter('upload.refused.*')}.rate"), "refused (any reason)")],
              "ops", "Accepted uploads by form / PUT / tus, dedupe hits and refusals; refusals above accepted ones: "
              "see Refusals by reason.", width=8),
        Panel("Dedupe ratio", [percent(f"{counter('upload.dedupe_hit')}.rate", f"{counter('upload.count')}.rate",
                                       "dedupe %")], "percent",
              "Share of uploads whose bytes were already stored; informational (a jump means the same file is "
              "re-posted, maybe by a bot).", width=8),
        Panel("Upload duration (p50 / p95 / p99)", pcts("upload.duration"), "ms",
              "From the first body byte to the stored record; p99 above 10 s with ordinary files: check disk I/O "
              "(fsync) and store latency.", red=OBJECTIVE_MS["transfer"], width=8),
        Panel("Uploads open by host", [level_by_host("upload.open")], "short",
              "Upload bodies being received now per host; near upload_max_per_client x clients or stuck high: slow "
              "clients are holding connections (idle/slow refusals should follow).", width=8),
        Panel("Upload bytes reserved by host", [level_by_host("upload.reserved_bytes")], "bytes",
              "Bytes admitted for uploads in progress per host; at upload_max_inflight_bytes new uploads get 503 "
              "capacity: raise it if the disk allows.", width=8),
        Panel("Resumable uploads (tus)/s", [by(f"{counter('tus.{created,completed,terminated,expired}')}.rate", -2)],
              "ops", "tus uploads created / completed / terminated / expired; many expired: clients give up "
              "(check PATCH errors and proxy timeouts).", width=12),
        Panel("tus PATCH throughput", [rate("tus.patch.bytes", "PATCH bytes")], "binBps",
              "Bytes/s committed by tus PATCH requests; 0 while tus uploads are open means PATCHes fail.", width=12),
    ]),
    Row("Downloads", [
        Panel("Downloads/s by kind", [by(f"{counter('download.*.count')}.rate", -3),
                                      rate("short.hits", "short-link hits")], "reqps",
              "Bodies sent by /i/ (raw), /d/ (download), as 206 ranges, 304s and short-link redirects; a drop to 0 "
              "with page views going on means files cannot be read (store, disk).", width=12),
        Panel("Download throughput", [by(f"{counter('download.*.bytes')}.rate", -3)], "binBps",
              "Body bytes/s by kind (behind nginx computed from sizes); near the link's capacity: add bandwidth or "
              "cache in front.", width=12),
    ]),
    Row("Images and derivatives", [
        Panel("Resize latency (p50 / p95 / p99)", [*pcts("resize.duration"),
                                                   alias(f"maxSeries({timer('http.resize.time')}.upper_99)",
                                                         "request p99")], "ms",
              "Queue wait + render of one derivative, and the whole /r/ request; red above 2 s (alert "
              "tp-p99-images): add resize_workers or CPU.", red=OBJECTIVE_MS["images"], width=6),
        Panel("Resizes/s and cache hits", [rate("resize.count", "rendered"), rate("resize.cache_hit", "cache hits")],
              "ops", "Derivatives rendered vs served from the cache; renders far above hits means clients ask for "
              "ever new sizes (see Refusals, rate limits).", width=6),
        Panel("Executor queue depth by host", [level_by_host("executor.queue_depth")], "short",
              "Image jobs waiting for a worker per host; at resize_max_pending new jobs are refused (503 busy).",
              width=6),
        Panel("Executor rejections", [percent(f"{counter('executor.rejected')}.rate",
                                              f"{counter('http.resize.status.*')}.rate", "rejected %")], "percent",
              "Share of resize requests refused because the executor was full; red above 5% (alert "
              "tp-executor-rejections): add workers or CPU, or lower the resize rate limit.",
              red=OBJECTIVES["executor_rejected_percent"], width=6),
        Panel("Derivative cache bytes", [alias(f"maxSeries({level('resize.cache_bytes')})", "cached")], "bytes",
              "Bytes of evictable derivatives (all processes share one store, so any process's value is the "
              "total); pinned at resize_cache_max_bytes means eviction is working hard: raise it or the disk.",
              width=6),
        Panel("Evictions/s", [rate("resize.evicted.bytes", "for the byte budget"),
                              rate("resize.evicted.variants", "for the per-original cap")], "ops",
              "Derivatives evicted least recently used first; steady high with re-renders means the cache is too "
              "small for the working set.", width=6),
        Panel("Previews made/s", [rate("{probe,preview}.*.count", "media probed + posters made"),
                                  rate("highlight.count", "text highlighted"), rate("strip.count", "photos stripped")],
              "ops", "Media probed at upload, posters / thumbnails / covers made, texts highlighted, photo metadata "
              "removed; informational (what the preview tools are asked).", width=6),
        Panel("Preview time (p99)", [alias(max_or_zero(f"{timer('{probe,preview}.*.duration')}.upper_99"), "tools"),
                                     alias(max_or_zero(f"{timer('highlight.duration')}.upper_99"), "highlight"),
                                     alias(max_or_zero(f"{timer('strip.duration')}.upper_99"), "strip"),
                                     alias(max_or_zero(f"{timer('http.poster.time')}.upper_99"), "/t/ request")], "ms",
              "Tool runs (ffprobe, ffmpeg, pdftoppm) and highlighting, executor wait included; red above 2 s: "
              "slow disks or hostile media near the limits (see preview refusals).", red=OBJECTIVE_MS["images"],
              width=6),
        Panel("Preview cache hits/s", [rate("preview.*.cache_hit", "posters"),
                                       rate("highlight.cache_hit", "highlight")], "ops",
              "Posters and highlighted text answered without running a tool; informational.", width=6),
        Panel("Preview refusals/s", [rate("{probe,preview}.*.refused.*", "refused")], "ops",
              "Media refused within their limits (corrupt, too large, timeout) or while the executor was busy; a "
              "surge of one code from one client is a hostile upload: block its hash (docs/admin.md).", width=6),
        Panel("Photo metadata removed/s", [rate("strip.removed.*", "removed"), rate("strip.skipped", "skipped")],
              "ops",
              "What strip_metadata took out of uploaded photos (gps, xmp, exif...) and files skipped; "
              "informational.", width=6),
        Panel("Unfurls and per-client image refusals/s", [rate("unfurl.preview", "unfurler page views"),
                                                          rate("executor.client_rejected", "client over its share")],
              "ops", "Link-preview bots reading pages (never counted as downloads) and resize jobs refused because "
              "one client held its executor share (429 resize_busy); the latter rising: one client floods /r/.",
              width=6),
    ]),
    Row("Real time", [
        Panel("Subscribers", [level_sum("ws.subscribers", "WebSocket"), level_sum("longpoll.subscribers", "long-poll")],
              "short", "Open WebSockets and waiting long-polls, summed over every process; a cliff means processes "
              "restarted or the proxy dropped them (check nginx /ws timeouts).", width=6),
        Panel("Events/s", [rate("events.published", "published"), rate("events.delivered", "delivered")], "ops",
              "Events appended to the log and deliveries to subscribers; published with no deliveries while "
              "subscribers are open means the readers are stuck.", width=6),
        Panel("Event delivery lag (p50 / p95 / p99)", pcts("events.delivery_lag"), "ms",
              "Publish to hand-over to this process's subscribers; red above 2 s (alert tp-event-lag): a blocked "
              "event loop or a slow event-log store.", red=OBJECTIVES["delivery_lag_ms"], width=6),
        Panel("Feed request time (p50 / p99)", [alias(f"maxSeries({timer('http.' + routes('feeds') + '.time')}"
                                                      f".upper_{q})", f"p{q}") for q in (50, 99)], "ms",
              "Long-polls last up to their timeout and WebSockets for hours by design; informational (long-polls "
              "far under their timeout mean events arrive, which is fine).", width=6),
    ]),
    Row("Storage", [
        Panel("Store latency p99 by operation", [by(f"{timer('store.*.time')}.upper_99", -3, "maxSeries")], "ms",
              "Each metadata-store call's p99 (SQLite / MongoDB); red above 250 ms: check the database host, locks "
              "and the store_timeout.", red=OBJECTIVES["store_p99_ms"], width=8),
        Panel("Store calls/s by operation", [by(f"{timer('store.*.time')}.count_ps", -3)], "ops",
              "Metadata-store calls per second per operation; informational (what the database is asked).", width=8),
        Panel("Store error ratio", [percent(f"{counter('store.*.errors')}.rate", f"{timer('store.*.time')}.count_ps",
                                            "store errors %")], "percent",
              "Share of store calls that raised; red above 5% (alert tp-store-unavailable): the database is down, "
              "locked or unreachable: see the runbook.", red=OBJECTIVES["store_error_percent"], width=8),
        Panel("Store errors/s by operation", [by(f"{counter('store.*.errors')}.rate", -3)], "ops",
              "Which store calls fail; only writes failing points at a lock or a full disk on the database side.",
              width=12),
        Panel("Retention/s", [rate("retention.swept", "records swept"), rate("retention.blobs_removed",
                                                                             "blobs removed")], "ops",
              "Expired records deleted and blobs removed by the sweeper; 0 for days while files expire means the "
              "sweeper is failing (check the log).", width=12),
    ]),
    Row("Abuse and refusals", [
        Panel("Refusals/s by reason", [f"groupByNodes({counter('*.refused.*')}.rate, 'sumSeries', -4, -2)"], "ops",
              "Every <feature>.refused.<reason> counter (uploads, resizes, later features); a surge of one reason "
              "from few clients is abuse: rate-limit or block them at nginx.", width=6),
        Panel("Rate-limited/s by budget", [by(f"{counter('ratelimit.limited.*')}.rate", -2)], "reqps",
              "429 answers per budget (upload, resize, read); one budget rising: a client over it, see the access "
              "log by request id and client address.", width=6),
        Panel("Client errors/s by code", [by(f"{counter('http.$route.code.4*')}.rate", -2)], "reqps",
              "4xx answers per code; a flood of 404 or 400 is scanning or a broken client: check the access log.",
              width=6),
        Panel("Integrity and slow consumers/s", [rate("tus.checksum_mismatch", "tus checksum mismatch"),
                                                 rate("ws.slow_consumer_closed", "slow WebSockets closed")], "ops",
              "tus PATCHes refused for a bad checksum and WebSockets cut for not reading; steady non-zero: a broken "
              "or hostile client.", width=6),
    ]),
    Row("Capacity", [
        Panel("Disk free by host", [level_by_host("disk.free_percent", "minSeries")], "percent",
              "Free space of each host's data dir; red under 10% (alert tp-disk-free): free space or grow the "
              "volume now, uploads fail with 507 when it is full.", red=OBJECTIVES["disk_free_percent"], below=True,
              width=8),
        Panel("Disk free bytes by host", [level_by_host("disk.free_bytes", "minSeries")], "bytes",
              "The same in bytes; compare with max_upload_size x uploads open: that much can land at once.", width=8),
        Panel("Blob bytes by host", [level_by_host("blobs.bytes", "maxSeries")], "bytes",
              "Bytes of stored blobs (files and derivatives) from the periodic scan; its growth rate tells when the "
              "disk fills.", width=8),
        Panel("Blobs stored by host", [level_by_host("blobs.count", "maxSeries")], "short",
              "Number of stored blobs; informational (a scan takes longer as it grows).", width=8),
        Panel("Open file descriptors by host", [level_by_host("fds.open")], "short",
              "Sockets and files open per host (every process summed); growing with flat traffic is a leak: "
              "find the process in the log and restart it.", width=8),
        Panel("File descriptors used (busiest process)",
              [alias(f"asPercent(maxSeries({level('fds.open')}), minSeries({level('fds.limit')}))", "% of limit")],
              "percent", "The busiest process's open fds against the lowest per-process limit; red above 80%: "
              "raise LimitNOFILE / ulimit -n before connections fail with EMFILE.", red=OBJECTIVES["fds_percent"],
              width=8),
        Panel("Processes reporting by host", [level_by_host("up")], "short",
              "Workers per host sending metrics; a host missing is down or cut off from StatsD.", width=8),
        Panel("Accept pauses/s", [rate("accept.paused", "listener paused")], "ops",
              "Times a listener stopped accepting because the process ran out of file descriptors; any non-zero: "
              "a connection flood or a leak, see fds above and nginx's limit_conn zones.", width=8),
    ]),
]


@dataclass
class Alert:
    uid: str
    title: str
    panel: str  # the panel whose objective this is
    queries: dict[str, str]  # refId -> Graphite target ($prefix filled in when written)
    reducer: str  # Grafana reduce: sum, mean, max, min, last (non-numbers dropped)
    expression: str | None  # Grafana math over the reduced values ($RA, $RB), or None: the threshold reads RA
    op: str  # gt or lt
    threshold: float
    window: int  # seconds of data each evaluation reads
    pending: str  # Grafana "for"
    summary: str
    runbook: str  # anchor in docs/operations.md
    no_data: str = "OK"
    severity: str = "page"
    labels: dict[str, str] = field(default_factory=dict)


def _duration(ms: float) -> str:
    return f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"


def _count(glob: str) -> str:
    return f"sumSeries({glob}.count)"


def _count_or_zero(glob: str) -> str:
    return f"sumSeries({glob}.count, scale(sumSeries({ALL_REQUESTS}.count), 0))"


ALERT_RULES = [
    Alert("tp-5xx-ratio", "5xx ratio above 1%", "Error ratio",
          {"A": _count_or_zero(f"stats.counters.{P}.http.*.status.5xx"), "B": _count(ALL_REQUESTS)},
          "sum", "$RA / $RB * 100", "gt", OBJECTIVES["5xx_percent"], 300, "5m",
          "More than 1% of answers were 5xx over 5 minutes.", "alert-5xx-ratio"),
    *[Alert(f"tp-p99-{kind}", f"p99 latency of {kind} routes above {_duration(OBJECTIVE_MS[kind])}",
            f"p99 latency: {kind} routes" if kind != "images" else "Resize latency (p50 / p95 / p99)",
            {"A": f"maxSeries(stats.timers.{P}.http.{routes(kind)}.time.upper_99)"},
            "mean", None, "gt", OBJECTIVE_MS[kind], 300, "5m",
            f"The p99 of {kind} routes ({', '.join(ROUTE_CLASSES[kind])}) averaged above "
            f"{OBJECTIVE_MS[kind]} ms over 5 minutes.", "alert-p99-latency",
            severity="page" if kind == "interactive" else "ticket", labels={"route_class": kind})
      for kind in ("interactive", "transfer", "images")],
    Alert("tp-store-unavailable", "Metadata store failing", "Store error ratio",
          {"A": _count_or_zero(f"stats.counters.{P}.store.*.errors"), "B": _count(f"stats.timers.{P}.store.*.time")},
          "sum", "$RA / $RB * 100", "gt", OBJECTIVES["store_error_percent"], 120, "2m",
          "More than 5% of metadata-store calls raised over 2 minutes (down, locked or unreachable).",
          "alert-store-unavailable"),
    Alert("tp-executor-rejections", "Image executor refusing jobs", "Executor rejections",
          {"A": _count_or_zero(f"stats.counters.{P}.executor.rejected"),
           "B": _count(f"stats.counters.{P}.http.resize.status.*")},
          "sum", "$RA / $RB * 100", "gt", OBJECTIVES["executor_rejected_percent"], 300, "5m",
          "More than 5% of resize requests were refused by a full executor over 5 minutes.",
          "alert-executor-rejections", severity="ticket"),
    Alert("tp-disk-free", "Data dir disk almost full", "Disk free by host",
          {"A": f"minSeries(stats.gauges.{P}.proc.*.*.disk.free_percent)"},
          "last", None, "lt", OBJECTIVES["disk_free_percent"], 120, "2m",
          "The fullest data dir has less than 10% free.", "alert-disk-free"),
    Alert("tp-event-lag", "Event delivery lag above 2 s", "Event delivery lag (p50 / p95 / p99)",
          {"A": f"maxSeries(stats.timers.{P}.events.delivery_lag.upper_99)"},
          "last", None, "gt", OBJECTIVES["delivery_lag_ms"], 120, "3m",
          "Subscribers got events more than 2 s after they were published (p99 of the latest flush).",
          "alert-event-lag", severity="ticket"),
    Alert("tp-statsd-silent", "StatsD silent", "Processes reporting",
          {"A": "transformNull(stats.statsd.numStats, 0)"},
          "max", None, "lt", 1, 120, "2m",
          "StatsD flushed nothing to Graphite for 2 minutes: every metric and every other alert is blind.",
          "alert-statsd-silent", no_data="Alerting"),
]

# -- rendering -----------------------------------------------------------------------

HEIGHT = {"stat": 5, "timeseries": 8}


def _thresholds(panel: Panel) -> dict[str, Any]:
    if panel.red is None:
        steps = [{"color": "green", "value": None}]
    elif panel.below:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": panel.red}]
    else:
        steps = [{"color": "green", "value": None}, {"color": "red", "value": panel.red}]
    return {"mode": "absolute", "steps": steps}


def _panel_json(panel: Panel, pid: int, pos: dict[str, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "min": 0, "thresholds": _thresholds(panel),
                                "color": {"mode": "thresholds" if panel.kind == "stat" else "palette-classic"}}
    if panel.unit == "percent" and panel.kind == "stat":
        defaults["max"] = 100
    out: dict[str, Any] = {"id": pid, "type": panel.kind, "title": panel.title, "description": panel.description,
                           "datasource": DATASOURCE, "gridPos": pos}
    if panel.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "spanNulls": True,
                              "showPoints": "never", "axisLabel": "",
                              "thresholdsStyle": {"mode": "line" if panel.red is not None else "off"}}
        out["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                          "tooltip": {"mode": "multi", "sort": "desc"}}
    else:
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "background" if panel.red is not None else "value",
                          "graphMode": "area", "textMode": "auto", "justifyMode": "auto", "orientation": "auto"}
    out["fieldConfig"] = {"defaults": defaults, "overrides": []}
    out["targets"] = [{"refId": chr(ord("A") + i), "target": t, "datasource": DATASOURCE}
                      for i, t in enumerate(panel.targets)]
    return out


def panel_ids() -> dict[str, int]:
    ids, pid = {}, 0
    for row in ROWS:
        pid += 1
        for panel in row.panels:
            pid += 1
            ids[panel.title] = pid
    return ids


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    ids = panel_ids()
    y, pid = 0, 0
    for row in ROWS:
        pid += 1
        panels.append({"id": pid, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        y += 1
        x, row_height = 0, 0
        for panel in row.panels:
            pid += 1
            assert ids[panel.title] == pid
            if x + panel.width > 24:
                x, y = 0, y + row_height
                row_height = 0
            height = HEIGHT[panel.kind]
            panels.append(_panel_json(panel, pid, {"h": height, "w": panel.width, "x": x, "y": y}))
            x += panel.width
            row_height = max(row_height, height)
        y += row_height
    variable_ds = DATASOURCE
    return {
        "uid": "tornado-paste",
        "title": "tornado-paste",
        "tags": ["tornado-paste", "statsd"],
        "description": "Generated by scripts/dashboard.py (do not edit by hand). Rows: traffic and errors, uploads, "
                       "downloads, images, real time, storage, abuse, capacity. Runbook: docs/operations.md.",
        "editable": False, "graphTooltip": 1, "refresh": "30s", "schemaVersion": 39, "version": 2,
        "time": {"from": "now-6h", "to": "now"}, "timepicker": {}, "timezone": "browser",
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "links": [], "annotations": {"list": []},
        "templating": {"list": [
            {"name": "prefix", "label": "StatsD prefix", "type": "textbox", "query": ALERT_PREFIX,
             "current": {"text": ALERT_PREFIX, "value": ALERT_PREFIX}, "hide": 0,
             "description": "The --statsd-prefix of the instances to show (a glob sums several)."},
            {"name": "host", "label": "Host", "type": "query", "datasource": variable_ds,
             "query": f"stats.gauges.{P}.proc.*", "definition": f"stats.gauges.{P}.proc.*", "refresh": 2,
             "multi": True, "includeAll": True, "allValue": "*", "current": {"text": ["All"], "value": ["$__all"]},
             "sort": 1, "hide": 0, "options": [],
             "description": "Hosts (--metrics-host) whose per-process levels are summed; All = the whole service."},
            {"name": "route", "label": "Route", "type": "query", "datasource": variable_ds,
             "query": f"stats.timers.{P}.http.*", "definition": f"stats.timers.{P}.http.*", "refresh": 2,
             "multi": True, "includeAll": True, "allValue": "*", "current": {"text": ["All"], "value": ["$__all"]},
             "sort": 1, "hide": 0, "options": []},
        ]},
        "panels": panels,
    }


def fill(target: str, prefix: str = ALERT_PREFIX) -> str:
    return target.replace("$prefix", prefix).replace("$host", "*").replace("$route", "*")


def _expr() -> dict[str, str]:
    return {"type": "__expr__", "uid": "__expr__"}


def _rule(alert: Alert, prefix: str, ids: dict[str, int]) -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    for ref, target in alert.queries.items():
        data.append({"refId": ref, "relativeTimeRange": {"from": alert.window, "to": 0},
                     "datasourceUid": DATASOURCE["uid"],
                     "model": {"refId": ref, "target": fill(target, prefix), "datasource": dict(DATASOURCE),
                               "intervalMs": 1000, "maxDataPoints": 43200}})
    for ref in alert.queries:
        data.append({"refId": f"R{ref}", "datasourceUid": "__expr__",
                     "model": {"refId": f"R{ref}", "type": "reduce", "expression": ref, "reducer": alert.reducer,
                               "settings": {"mode": "dropNN"}, "datasource": _expr()}})
    source = "RA"
    if alert.expression:
        data.append({"refId": "M", "datasourceUid": "__expr__",
                     "model": {"refId": "M", "type": "math", "expression": alert.expression, "datasource": _expr()}})
        source = "M"
    data.append({"refId": "C", "datasourceUid": "__expr__",
                 "model": {"refId": "C", "type": "threshold", "expression": source, "datasource": _expr(),
                           "conditions": [{"evaluator": {"type": alert.op, "params": [alert.threshold]}}]}})
    return {
        "uid": alert.uid, "title": alert.title, "condition": "C", "data": data,
        "dashboardUid": "tornado-paste", "panelId": ids[alert.panel],
        "noDataState": alert.no_data, "execErrState": "Error", "for": alert.pending,
        "annotations": {"summary": alert.summary, "runbook_url": f"docs/operations.md#{alert.runbook}"},
        "labels": {"service": "tornado-paste", "severity": alert.severity, **alert.labels},
        "isPaused": False,
    }


def alert_rules(prefix: str = ALERT_PREFIX) -> dict[str, Any]:
    ids = panel_ids()
    return {"apiVersion": 1, "groups": [{
        "orgId": 1, "name": "tornado-paste", "folder": "tornado-paste", "interval": "1m",
        "rules": [_rule(alert, prefix, ids) for alert in ALERT_RULES]}]}


ALERTS_HEADER = """\
# Grafana alerting provisioning: the tornado-paste alert rules. Generated by scripts/dashboard.py
# from the same description as the dashboard (each rule's threshold is its panel's red line):
# edit that script, then run it. Copy to /etc/grafana/provisioning/alerting/. Runbook: docs/operations.md.
# The rules watch the StatsD prefix "{prefix}" (python scripts/dashboard.py --alert-prefix ... for another).
"""


def markdown_rows() -> str:
    """The dashboard row by row as markdown tables (docs/operations.md has this very text)."""
    out = []
    for row in ROWS:
        out += [f"### {row.title}", "", "| panel | unit | red when | what it shows, what to do when it is red |",
                "|---|---|---|---|"]
        for p in row.panels:
            red = "" if p.red is None else (f"< {p.red:g}" if p.below else f"> {p.red:g}")
            out.append(f"| {p.title} | `{p.unit}` | {red} | {p.description} |")
        out.append("")
    return "\n".join(out)


def render(prefix: str = ALERT_PREFIX) -> tuple[str, str]:
    """(the dashboard JSON, the alert rules YAML) as files."""
    return (json.dumps(dashboard(), indent=2) + "\n",
            ALERTS_HEADER.format(prefix=prefix) + yaml.safe_dump(alert_rules(prefix), sort_keys=False, width=1000))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the files differ from this description")
    p.add_argument("--alert-prefix", default=ALERT_PREFIX, help="StatsD prefix the alert rules watch")
    p.add_argument("--markdown", action="store_true", help="print the rows as markdown (for docs/operations.md)")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown_rows(), end="")
        return 0
    wanted = dict(zip((DASHBOARD, ALERTS), render(args.alert_prefix), strict=True))
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not what scripts/dashboard.py gives: run it", file=sys.stderr)
        return 1 if stale else 0
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
