"""The deployment secret: what keys the opaque list cursors (``core/cursor.py``), so every machine of a
deployment must share it (a cursor one machine issued must decode on the next).

Where it comes from, first match wins (docs/scale.md has backup and rotation):

1. ``secret`` (``TORNADO_PASTE_SECRET``): 64 hex digits the operator provisions on every machine.
2. ``secret_file``: a file holding those 64 hex digits (a mounted secret); missing or malformed is a
   start-up error, never a silently different secret per machine.
3. With ``mongo_url``: kept in MongoDB, written once by whichever machine starts first (seeded from
   that machine's ``<data_dir>/secret.key`` if it has one, so a single-machine deployment keeps its
   links when it moves to MongoDB); every other machine reads that one.
4. Otherwise ``<data_dir>/secret.key``, created once (one machine: its processes share the data dir).
"""

from __future__ import annotations

import os
import re
import secrets
import time

SECRET_FILE = "secret.key"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class SecretError(RuntimeError):
    """The configured secret is missing or malformed: the process must not start."""


def parse_secret(value: str, where: str) -> bytes:
    value = value.strip()
    if not _HEX64.match(value):
        raise SecretError(f"{where} must hold 64 hex digits (`openssl rand -hex 32`)")
    return bytes.fromhex(value)


def configured_secret(secret: str = "", secret_file: str = "") -> bytes | None:
    """The operator's secret (setting or file), or None when neither is set."""
    if secret:
        return parse_secret(secret, "the secret setting")
    if secret_file:
        try:
            with open(secret_file) as handle:
                return parse_secret(handle.read(), f"secret_file {secret_file}")
        except OSError as exc:
            raise SecretError(f"cannot read secret_file {secret_file}: {exc}") from exc
    return None


def existing_secret(data_dir: str) -> bytes | None:
    """``<data_dir>/secret.key`` if this machine has one (to seed a shared secret with it)."""
    path = os.path.join(data_dir, SECRET_FILE)
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except FileNotFoundError:
        return None
    return bytes.fromhex(value) if _HEX64.match(value) else None


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def load_or_create_secret(data_dir: str) -> bytes:
    """Read ``<data_dir>/secret.key``, creating it once (race-safe across processes)."""
    path = os.path.join(data_dir, SECRET_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
    for _ in range(50):
        with open(path) as handle:
            value = handle.read().strip()
        if len(value) == 64:
            return bytes.fromhex(value)
        # Another process created it and is still writing.
        time.sleep(0.01)
    raise RuntimeError(f"{path} is not a valid secret; delete it to make a new one")
