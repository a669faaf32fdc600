"""All of tornado-paste's settings, in one place.

Every field has a default here, can be overridden by an environment variable
``TORNADO_PASTE_<FIELD NAME IN UPPER CASE>`` and, for the ones ``run.py``
exposes, by a command-line flag (flags win over the environment).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "TORNADO_PASTE_"

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: str | int) -> int:
    """Parse ``1024``, ``64k``, ``100M``, ``1G`` or ``2GiB`` into bytes (binary units)."""
    if isinstance(value, int):
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise ValueError(f"not a size: {value!r} (use bytes or a k/M/G suffix)")
    return int(match.group(1)) * _SIZE_FACTORS[match.group(2).lower()]


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def parse_list(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    # --- network ---
    # Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).
    address: str = "127.0.0.1"
    # TCP port to listen on (the first of N with --port-per-process).
    port: int = 8000
    # Public URL every link is built from; empty means http://<address>:<port>.
    base_url: str = ""
    # Separate origin for the files themselves (like githubusercontent.com): /i/, /d/ and /r/ links in
    # cards point there; empty = base_url. Point it at this same app (another server_name in nginx).
    content_base_url: str = ""
    # Worker processes forked after binding (crashed ones are restarted).
    processes: int = 1
    # Trust X-Real-IP / X-Forwarded-* (only when nginx is in front).
    behind_proxy: bool = False
    # Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    shutdown_grace: float = 10.0

    # --- storage ---
    # Blobs, staging files, secret.key and the SQLite file.
    data_dir: str = "./data"
    # Empty: embedded SQLite at <data_dir>/paste.sqlite3.
    mongo_url: str = ""
    # MongoDB database name.
    mongo_database: str = "tornado_paste"
    # How long a store call may wait (SQLite lock, MongoDB server selection)
    # before the request answers 503.
    store_timeout: float = 2.0
    # The deployment secret (64 hex digits) that keys the opaque list cursors; every machine must share it.
    # Empty: read secret_file; else kept in MongoDB when mongo_url is set; else <data_dir>/secret.key.
    secret: str = dataclasses.field(default="", repr=False)
    # A file holding the deployment secret (64 hex digits), provisioned by the operator on every machine.
    secret_file: str = ""

    # --- blob store ---
    # Where file bytes live: local (<data_dir>/blobs) or s3 (an S3-compatible bucket; see docs/scale.md).
    blob_store: str = "local"
    # S3 endpoint URL (e.g. http://minio:9000); empty = AWS itself, in s3_region.
    s3_endpoint_url: str = ""
    # The bucket holding the blobs (required with blob_store = s3).
    s3_bucket: str = ""
    # The bucket's region (request signing; AWS's endpoint when s3_endpoint_url is empty).
    s3_region: str = "us-east-1"
    # A key prefix ending in / (e.g. "paste/") to share a bucket with other data; empty = the bucket's root.
    s3_prefix: str = ""
    # Access key id; empty = the standard AWS chain (AWS_ACCESS_KEY_ID, profile, instance role).
    s3_access_key: str = ""
    # Secret access key; empty = the standard AWS chain (AWS_SECRET_ACCESS_KEY, profile, instance role).
    s3_secret_key: str = dataclasses.field(default="", repr=False)
    # Multipart part size (at least 5M); an upload smaller than one part goes up in one PutObject.
    s3_part_size: int = 8 << 20
    # Parts in flight per upload: memory per upload is (concurrency + 1) parts.
    s3_upload_concurrency: int = 2
    # Downloads: proxy (streamed through the app), redirect (307 to a presigned URL) or accel (nginx
    # X-Accel-Redirect to the internal location s3_accel_prefix, which proxies to the store).
    s3_download: str = "proxy"
    # The internal nginx location that proxies accel downloads to the store (nginx.conf's /_s3/).
    s3_accel_prefix: str = "/_s3/"
    # Seconds a presigned URL (redirect, accel) stays valid.
    s3_presign_expiry: int = 300
    # Seconds to wait for a connection to the object store.
    s3_connect_timeout: float = 2.0
    # Seconds to wait for an object store answer (each read of a response body too).
    s3_read_timeout: float = 30.0
    # Attempts per object store request (botocore's standard retry mode), then a 503.
    s3_max_attempts: int = 3
    # path (https://endpoint/bucket/key) or virtual (https://bucket.endpoint/key) addressing.
    s3_addressing_style: str = "path"

    # --- uploads ---
    # Largest file accepted (bytes; k/M/G suffixes in flags and the environment).
    max_upload_size: int = 1 << 30
    # Only files whose sniffed MIME type matches one of these fnmatch patterns (image/*) are accepted;
    # empty: every type.
    allow_types: tuple[str, ...] = ()
    # Files whose sniffed MIME type matches one of these fnmatch patterns are refused (415), even when
    # allow_types matches them too.
    deny_types: tuple[str, ...] = ()
    # Bytes of a file's head given to libmagic.
    sniff_bytes: int = 64 * 1024
    # Staging files older than this are swept even if their owner looks alive.
    stale_tmp_age: float = 24 * 3600.0
    # Seconds a process trusts its cached answer to "is this file's content blocked?" when serving it:
    # a block made by another process (the admin CLI) reaches every link within this time (uploads
    # always ask the store). 0 = ask the store on every request.
    blocklist_cache_ttl: float = 2.0
    # Seconds a process trusts a file record it read for the read-only routes (/i/ /d/ /p/ /s/, metadata
    # GETs): a delete, rename or password/visibility change made by another process (another worker, the
    # admin CLI) reaches this process's answers within this time; this process's own changes at once.
    # Records with a password or a download limit are never kept. 0 = ask the store on every request.
    record_cache_ttl: float = 1.0
    # File records kept per process by that cache (least recently used go first).
    record_cache_entries: int = 4096

    # --- metrics ---
    # Host of the StatsD daemon metrics are sent to; empty disables metrics.
    statsd_host: str = ""
    # UDP port of the StatsD daemon.
    statsd_port: int = 8125
    # Prefix of every metric name (tornado_paste.http.upload_form.time ...).
    statsd_prefix: str = "tornado_paste"
    # Host segment of per-process gauge names (<prefix>.proc.<host>.<port>-<worker>.*); empty = short hostname.
    metrics_host: str = ""
    # Seconds between two scans of the blob directory for the blobs.bytes / blobs.count gauges (0 = off).
    metrics_blob_scan_interval: float = 300.0

    # --- logging ---
    # text: one readable line per record; json: one JSON object per line (request id, route, status, ...).
    log_format: str = "text"
    # The same warning or error is written at most once per this many seconds; the next says how many were
    # suppressed (0 = write every one).
    log_repeat_interval: float = 60.0

    # --- images ---
    # Longest side (px) a derivative may have; larger w/h are refused with 400.
    resize_max_side: int = 4096
    # Sources with more pixels (width x height from the header, before decoding) are refused.
    resize_max_source_pixels: int = 50_000_000
    # Frames an animated GIF/WebP kept as an animation may have (counted from the file, before decoding);
    # more is refused with 422 image_too_many_frames.
    resize_max_frames: int = 1000
    # Pixels an animation may cost in all: frames x max(canvas, output); more is refused with 400. Pillow's
    # encoders hold every resized frame, so this also bounds memory (WebP: 3-4 bytes a pixel, GIF: 1).
    resize_max_animation_pixels: int = 50_000_000
    # Threads of the bounded image executor; 0 = one per CPU.
    resize_workers: int = 0
    # Jobs allowed to wait for a thread; beyond that requests get 503 + Retry-After at once.
    resize_max_pending: int = 16
    # Image jobs (running + waiting) one client IP may hold per process; beyond, 429 resize_busy + Retry-After
    # while other clients are still served (0 = no per-client share).
    resize_max_per_client: int = 4
    # Pixels (width x height) a derivative may have; more is refused with 400 output_too_large.
    resize_max_output_pixels: int = 8_388_608
    # Derivatives are a cache: bytes they may take in all (least recently used evicted first; 0 = no budget).
    # Resizes made at upload (POST / with w/h) are kept like uploads and not counted.
    resize_cache_max_bytes: int = 1 << 30
    # Cached derivatives one original may have; a new one evicts its least recently used (0 = no cap).
    resize_max_variants: int = 16

    # --- previews ---
    # Posters (video), first-page thumbnails (PDF) and cover art (audio): longest side in px (never upscaled).
    preview_max_side: int = 1280
    # Wall-clock seconds each ffprobe/ffmpeg/pdfinfo/pdftoppm run on an uploaded file may take (then its
    # process group is killed; CPU time is capped too).
    preview_tool_timeout: float = 20.0
    # Address space each of those tool runs may map (RLIMIT_AS; ffmpeg maps ~300 MiB of libraries before
    # reading a byte).
    preview_tool_memory_bytes: int = 1 << 30
    # PDF pages larger than this many points (1/72 in) a side are not drawn (422 media_too_large).
    preview_pdf_max_page_points: float = 14400.0
    # How long a preview page waits for a poster still being made before it renders without one.
    preview_page_wait: float = 5.0
    # Photo metadata removed at upload (JPEG losslessly, PNG by chunk): gps (location only: the GPS IFD
    # and location-bearing XMP), all (EXIF but orientation, XMP, IPTC, comments; ICC kept) or off.
    strip_metadata: str = "gps"
    # Encoder quality (1-100) of JPEG derivatives (PNG and GIF are lossless).
    resize_quality_jpeg: int = 85
    # Encoder quality (1-100) of WebP derivatives.
    resize_quality_webp: int = 82
    # Encoder quality (1-100) of AVIF derivatives.
    resize_quality_avif: int = 60
    # Text previews: bytes of a file highlighted on its page (the rest is a link to the raw file).
    highlight_max_bytes: int = 256 * 1024
    # Text previews: bytes of highlighted HTML each process caches (keyed by sha256).
    highlight_cache_bytes: int = 32 << 20

    # --- deployment ---
    # Non-empty: /i/ and /d/ answer with headers only plus X-Accel-Redirect: <prefix><ab>/<cd>/<sha256>,
    # and nginx's `internal` location of that prefix (aliased to <data_dir>/blobs/) sends the bytes.
    # Only with nginx in front: without it, clients would get empty bodies.
    accel_redirect_prefix: str = ""
    # With --processes N: worker i listens on port + i (one upstream entry per worker) instead of
    # all workers sharing one port.
    port_per_process: bool = False
    # glibc malloc arenas per process (0 = glibc's default of 8 per core). Each thread-pool thread
    # (blob I/O, images, SQLite, executors) would otherwise grow its own arena, memory never returned.
    malloc_arena_max: int = 2
    # Python's youngest-generation GC threshold (0 = Python's default of 700). Thousands of open feeds
    # are a million long-lived objects: at 700, a long-poll's objects live long enough to be promoted,
    # and every few events a full collection walks them all (0.8 s of CPU at 10,000 WebSockets).
    gc_young_threshold: int = 50_000

    # --- reliability ---
    # Uploads per second one client IP gets back in its token bucket (0 = unlimited). Per process: with N
    # processes a client gets up to N times every rate limit (see docs/reliability.md).
    ratelimit_upload_rate: float = 5.0
    # Uploads one client IP may send in a burst (the size of its upload bucket).
    ratelimit_upload_burst: int = 100
    # Resize requests (/r/) per second one client IP gets back (0 = unlimited).
    ratelimit_resize_rate: float = 20.0
    # Resize requests one client IP may send in a burst.
    ratelimit_resize_burst: int = 300
    # Reads (pages, files, API) per second one client IP gets back (0 = unlimited).
    ratelimit_read_rate: float = 200.0
    # Reads one client IP may send in a burst.
    ratelimit_read_burst: int = 2000
    # Client IPs whose buckets a process keeps; beyond that the least recently seen is forgotten.
    ratelimit_max_clients: int = 100_000
    # Client IPs never rate-limited (a monitoring host, a benchmark client).
    ratelimit_exempt: tuple[str, ...] = ()
    # Uploads one client IP may have in progress at once (0 = no cap).
    upload_max_per_client: int = 32
    # Upload bytes in flight across the process: bytes received so far, never the declared Content-Length
    # (a client that promises much and sends little holds little); 0 = no cap.
    upload_max_inflight_bytes: int = 8 << 30
    # Share of that budget one client IP may hold at once (1 = no per-client share); past it: 429.
    upload_client_share: float = 0.25
    # Seconds an upload body may stall before it is cut (slowloris); 0 disables.
    upload_idle_timeout: float = 30.0
    # Average bytes/s an upload must reach once it is 2 x upload_idle_timeout old (a trickle); 0 disables.
    upload_min_rate: int = 1024
    # The required average grows with the time an upload is held: upload_min_rate x (1 + elapsed / this),
    # so a trickle just above the minimum cannot hold a connection for hours (0 = a flat minimum).
    upload_min_rate_ramp: float = 600.0
    # Soft open-file limit (RLIMIT_NOFILE) run.py sets at start: 0 = raise it to the hard limit,
    # N = that many (at most the hard limit). Every connection, blob and log file is one descriptor.
    max_open_files: int = 0
    # Seconds a connection may take to send its request headers, and keep-alive idle time.
    idle_connection_timeout: float = 60.0
    # Default lifetime of an upload without ``expires``: policy (size-based) or 1h|1d|7d|30d|never.
    expires_default: str = "policy"
    # The longest any file or collection may live, whatever it asks (seconds; 0 = only the size policy).
    # Manage links may extend or shorten a lifetime within it.
    expires_max: float = 0.0
    # Size policy: seconds a file as big as max_upload_size is kept (smaller files get more, up to
    # retention_max_age).
    retention_min_age: float = 30 * 86400.0
    # Size policy: seconds a tiny file is kept; 0 turns the size policy off.
    retention_max_age: float = 365 * 86400.0
    # Seconds between the sweeper's looks for expired files (0 disables the sweeper).
    retention_sweep_interval: float = 60.0
    # Seconds between the sweeper's looks for blobs no record refers to (left by a crash).
    retention_orphan_interval: float = 3600.0
    # A blob written or reused this recently is never reaped (covers an upload between commit and insert).
    retention_grace: float = 300.0
    # Start-up: how many times to try connecting to the store before giving up.
    store_start_retries: int = 5
    # Start-up: seconds before the second connection attempt (doubling each time, capped at 30 s).
    store_start_backoff: float = 0.5

    # --- shares ---
    # Every new upload and collection must have a password (tus uploads, which cannot send one, are refused).
    share_passwords_required: bool = False
    # The highest download limit a file or collection may be given (0 = any).
    share_max_downloads: int = 0
    # Seconds an unlocked password grant (cookie or X-Paste-Unlock header) lasts.
    share_unlock_ttl: float = 600.0
    # Password attempts per minute one client may make (on any file or collection).
    share_attempts_per_client: int = 10
    # Password attempts per minute all clients together may make on one file or collection.
    share_attempts_per_target: int = 30
    # Seconds a file that reached its download limit keeps its bytes (a download nginx is still sending)
    # before the sweeper removes it; it answers 410 from the moment the limit is reached.
    share_burn_grace: float = 60.0
    # Files one collection may hold.
    collection_max_files: int = 1000

    # --- tus (resumable uploads) ---
    # Seconds an unfinished tus upload lives after its last PATCH (Upload-Expires).
    tus_expiry: float = 24 * 3600.0
    # Seconds a PATCH's lock lease lasts (renewed while the PATCH runs); a dead process's lock frees after it.
    tus_lock_lease: float = 30.0
    # Seconds between sweeps of expired tus uploads (0 disables the sweeper).
    tus_sweep_interval: float = 300.0
    # fsync every PATCH before committing its offset (survives power loss mid-upload, costs throughput);
    # off: a process crash loses nothing, a power loss resumes from what reached the disk.
    tus_fsync_patches: bool = False
    # Unfinished tus uploads one client IP may have open (one more: 429; 0 = no cap).
    tus_max_uploads_per_client: int = 8
    # Declared bytes of one client IP's unfinished tus uploads in all (beyond: 429; 0 = no cap).
    tus_max_client_bytes: int = 4 << 30
    # Unfinished tus uploads of all clients together (one more: 503; 0 = no cap).
    tus_max_uploads: int = 1000
    # Declared bytes of all clients' unfinished tus uploads together (beyond: 503; 0 = no cap).
    tus_max_total_bytes: int = 0
    # Largest Upload-Metadata header, in bytes (beyond: 400 metadata_too_large).
    tus_max_metadata_size: int = 4096
    # Longest filename in Upload-Metadata after base64 decoding, in bytes (beyond: 400 metadata_too_large).
    tus_max_filename_bytes: int = 255

    # --- compression ---
    # gzip JSON, pages, CSS/JS and text files for clients that accept it (never ranges or compressed types).
    compress_responses: bool = True
    # Stored text files up to this size are gzipped whole (true Content-Length and Repr-Digest of the gzip
    # bytes); larger ones are sent as they are (compressing them would hold the event loop).
    compress_max_file_size: int = 1 << 20

    # --- browser clients on other origins (CORS) ---
    # Origins whose pages may call the API and tus routes (/api/...): empty = CORS off, a list of
    # origins like https://app.example, or * for any origin (then never with credentials).
    cors_origins: tuple[str, ...] = ()
    # Let listed origins send cookies/HTTP auth (Access-Control-Allow-Credentials); refused with *.
    cors_allow_credentials: bool = False
    # Seconds a browser may cache a preflight answer.
    cors_max_age: int = 600

    # --- ui ---
    # Files at least this big go through the resumable tus client (static/js/tus.js) instead of one POST.
    ui_tus_min_size: int = 64 << 20
    # How many files one browser tab uploads at the same time; the rest wait in its queue.
    ui_upload_concurrency: int = 3

    # --- realtime ---
    # Seconds the event log (WebSocket / long-poll feeds) keeps an event before trimming it.
    events_max_age: float = 7 * 24 * 3600.0
    # Events the event log keeps at most (the oldest are trimmed first).
    events_max_count: int = 100_000
    # How often each process's single reader polls the shared log for other processes' events.
    events_poll_interval: float = 0.25
    # On MongoDB with change streams (a replica set): other processes' events are pushed to the reader,
    # which then polls only every 5 s as a safety net. Off, or without change streams: it polls.
    events_push: bool = True
    # Recent events each process keeps in memory so reconnecting clients catch up without a query.
    events_buffer: int = 1024
    # Seconds between the server's pings on each WebSocket (0: no pings).
    events_ws_ping_interval: float = 20.0
    # Seconds a WebSocket peer has to answer a ping before it is closed.
    events_ws_ping_timeout: float = 20.0
    # Writes (a frame, or a page of frames sent together) a WebSocket may have waiting beyond what its
    # kernel send buffer took, before it is cut off as a slow consumer (1013).
    events_ws_send_queue: int = 256
    # Kernel send buffer per WebSocket (0 = OS default); smaller detects slow consumers sooner.
    events_ws_send_buffer_size: int = 0
    # WebSockets one client IP may hold open in this process (0 = no cap); one more: 429.
    events_ws_max_per_client: int = 32
    # Long-polls one client IP may have waiting in this process (0 = no cap); one more: 429.
    events_longpoll_max_per_client: int = 16
    # Share of the process's open-file limit WebSockets and long-polls may hold in all (0 = no cap); one
    # more: 503. The rest stays for uploads, downloads, probes, blobs and the store.
    events_fd_share: float = 0.5
    # Seconds a long-poll waits for events when the request gives no ?timeout=.
    events_longpoll_timeout: float = 25.0
    # Longest ?timeout= a long-poll may ask for (below nginx's 60 s read timeout).
    events_longpoll_max_timeout: float = 55.0

    # ------------------------------------------------------------------
    @property
    def public_base_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"http://{self.address}:{self.port}"

    @property
    def sqlite_path(self) -> str:
        return os.path.join(self.data_dir, "paste.sqlite3")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> Settings:
        if not 0 < self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")
        if self.processes < 1:
            raise ValueError("processes must be at least 1")
        if self.max_upload_size < 1:
            raise ValueError("max_upload_size must be positive")
        if self.resize_max_side < 1 or self.resize_max_source_pixels < 1:
            raise ValueError("resize_max_side and resize_max_source_pixels must be positive")
        if self.resize_max_frames < 1 or self.resize_max_animation_pixels < 1:
            raise ValueError("resize_max_frames and resize_max_animation_pixels must be positive")
        if self.resize_workers < 0 or self.resize_max_pending < 0:
            raise ValueError("resize_workers and resize_max_pending must not be negative")
        if min(self.resize_max_per_client, self.resize_cache_max_bytes, self.resize_max_variants) < 0:
            raise ValueError("resize_max_per_client, resize_cache_max_bytes and resize_max_variants must not be "
                             "negative")
        if self.resize_max_output_pixels < 1:
            raise ValueError("resize_max_output_pixels must be positive")
        if min(self.tus_max_uploads_per_client, self.tus_max_client_bytes, self.tus_max_uploads,
               self.tus_max_total_bytes, self.tus_max_metadata_size, self.tus_max_filename_bytes) < 0:
            raise ValueError("the tus_max_* caps must not be negative")
        if self.accel_redirect_prefix and not re.match(r"^/[A-Za-z0-9_./-]*/$", self.accel_redirect_prefix):
            raise ValueError(f"accel_redirect_prefix must be a path like /_blobs/: {self.accel_redirect_prefix!r}")
        if self.port_per_process and self.port + self.processes > 65536:
            raise ValueError("port + processes exceeds 65535")
        if self.expires_default.strip().lower() not in ("policy", "1h", "1d", "7d", "30d", "never"):
            raise ValueError(f"expires_default must be policy, 1h, 1d, 7d, 30d or never: {self.expires_default!r}")
        if self.base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", self.base_url):
            raise ValueError(f"base_url must be an http(s) URL: {self.base_url!r}")
        if self.content_base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", self.content_base_url):
            raise ValueError(f"content_base_url must be an http(s) URL: {self.content_base_url!r}")
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ValueError("cors_origins is either * or a list of origins, not both")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError("cors_allow_credentials cannot be used with cors_origins=* (browsers refuse it)")
        for origin in self.cors_origins:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"cors_origins entries must be origins like https://app.example: {origin!r}")
        if self.strip_metadata.strip().lower() not in ("gps", "all", "off"):
            raise ValueError(f"strip_metadata must be gps, all or off: {self.strip_metadata!r}")
        for quality in (self.resize_quality_jpeg, self.resize_quality_webp, self.resize_quality_avif):
            if not 1 <= quality <= 100:
                raise ValueError("resize_quality_* must be between 1 and 100")
        if self.preview_max_side < 16 or self.preview_tool_timeout <= 0 or self.preview_tool_memory_bytes < 64 << 20:
            raise ValueError("preview_max_side >= 16, preview_tool_timeout > 0, preview_tool_memory_bytes >= 64M")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"log_format must be text or json: {self.log_format!r}")
        if self.record_cache_ttl < 0 or self.record_cache_entries < 0:
            raise ValueError("record_cache_ttl and record_cache_entries must not be negative")
        if self.events_poll_interval <= 0:
            raise ValueError("events_poll_interval must be positive")
        if not 0 < self.events_longpoll_max_timeout < 60:
            raise ValueError("events_longpoll_max_timeout must be between 0 and 60 seconds (nginx reads for 60 s)")
        if not 0 < self.upload_client_share <= 1:
            raise ValueError("upload_client_share must be above 0 and at most 1")
        if not 0 <= self.events_fd_share <= 1:
            raise ValueError("events_fd_share must be between 0 and 1")
        if self.gc_young_threshold < 0:
            raise ValueError("gc_young_threshold must not be negative")
        if self.max_open_files < 0 or self.events_ws_max_per_client < 0 or self.events_longpoll_max_per_client < 0:
            raise ValueError("max_open_files and the per-client feed caps must not be negative")
        if self.expires_max < 0 or self.share_max_downloads < 0 or self.share_unlock_ttl <= 0:
            raise ValueError("expires_max and share_max_downloads must not be negative; share_unlock_ttl positive")
        if self.collection_max_files < 1 or self.share_burn_grace < 0:
            raise ValueError("collection_max_files must be positive and share_burn_grace not negative")
        if self.upload_min_rate_ramp < 0:
            raise ValueError("upload_min_rate_ramp must not be negative")
        if self.events_ws_send_queue < 1 or self.events_buffer < 0 or self.events_max_count < 1:
            raise ValueError("events_ws_send_queue and events_max_count must be positive")
        self._validate_scale()
        return self

    def _validate_scale(self) -> None:
        if self.secret and not re.match(r"^[0-9a-fA-F]{64}$", self.secret):
            raise ValueError("secret must be 64 hex digits (32 random bytes: `openssl rand -hex 32`)")
        if self.blob_store not in ("local", "s3"):
            raise ValueError(f"blob_store must be local or s3: {self.blob_store!r}")
        if self.s3_download not in ("proxy", "redirect", "accel"):
            raise ValueError(f"s3_download must be proxy, redirect or accel: {self.s3_download!r}")
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("blob_store=s3 needs s3_bucket")
        if self.s3_part_size < 5 << 20:
            raise ValueError("s3_part_size must be at least 5M (S3's smallest multipart part)")
        if self.s3_upload_concurrency < 1 or self.s3_max_attempts < 1 or self.s3_presign_expiry < 1:
            raise ValueError("s3_upload_concurrency, s3_max_attempts and s3_presign_expiry must be positive")
        if self.s3_prefix and not self.s3_prefix.endswith("/"):
            raise ValueError(f"s3_prefix must end in /: {self.s3_prefix!r}")
        if self.s3_addressing_style not in ("path", "virtual", "auto"):
            raise ValueError(f"s3_addressing_style must be path, virtual or auto: {self.s3_addressing_style!r}")
        if not re.match(r"^/[A-Za-z0-9_./-]*/$", self.s3_accel_prefix):
            raise ValueError(f"s3_accel_prefix must be a path like /_s3/: {self.s3_accel_prefix!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``TORNADO_PASTE_*`` variables, then ``overrides`` (None = not given)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = coerce(f.name, raw)
        for name, value in overrides.items():
            if value is not None:
                values[name] = coerce(name, value)
        return cls(**values).validated()


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


def coerce(name: str, value: Any) -> Any:
    """Turn a string from the environment or a flag into the field's type."""
    kind = _FIELD_TYPES.get(name)
    if kind is None:
        raise KeyError(f"unknown setting: {name}")
    if name.endswith("_size") or name.endswith("_bytes"):
        return parse_size(value)
    if kind == "bool":
        return parse_bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind.startswith("tuple"):
        return parse_list(value)
    return value if not isinstance(value, str) else value.strip()
