"""The deployment secret, kept in the data dir so every process shares it."""

from __future__ import annotations

import os
import secrets
import time

SECRET_FILE = "secret.key"


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
