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
    address: str = "127.0.0.1"
    port: int = 8000
    # Public URL every link is built from; empty means http://<address>:<port>.
    base_url: str = ""
    processes: int = 1
    # Trust X-Real-IP / X-Forwarded-* (only when nginx is in front).
    behind_proxy: bool = False
    # Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    shutdown_grace: float = 10.0

    # --- storage ---
    data_dir: str = "./data"
    # Empty: embedded SQLite at <data_dir>/paste.sqlite3.
    mongo_url: str = ""
    mongo_database: str = "tornado_paste"
    # How long a store call may wait (SQLite lock, MongoDB server selection)
    # before the request answers 503.
    store_timeout: float = 2.0

    # --- uploads ---
    max_upload_size: int = 1 << 30
    # fnmatch patterns on the sniffed MIME type; empty allow list = allow all.
    allow_types: tuple[str, ...] = ()
    deny_types: tuple[str, ...] = ()
    # Bytes of a file's head given to libmagic.
    sniff_bytes: int = 64 * 1024
    # Staging files older than this are swept even if their owner looks alive.
    stale_tmp_age: float = 24 * 3600.0

    # --- metrics ---
    statsd_host: str = ""
    statsd_port: int = 8125
    statsd_prefix: str = "tornado_paste"

    # --- ui ---
    # Files at least this big go through the resumable tus client (static/js/tus.js) instead of one POST.
    ui_tus_min_size: int = 64 << 20
    # How many files one browser tab uploads at the same time; the rest wait in its queue.
    ui_upload_concurrency: int = 3

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
        if self.base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", self.base_url):
            raise ValueError(f"base_url must be an http(s) URL: {self.base_url!r}")
        return self

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
