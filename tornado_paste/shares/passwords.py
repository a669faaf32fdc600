"""Passwords on files and collections: argon2id hashes, signed unlock grants, attempt limits.

A hash is computed and checked on a thread (argon2 is deliberately slow), never on the loop.
After a correct password the client gets a grant: ``v1.<target>.<expiry>.<hmac>``, an HMAC-SHA256
with a key derived from the deployment secret, valid for one target (a filehash, or ``c:<code>``)
until it expires, and only while the password stays the same (the MAC covers the password's hash, so
setting a new password or clearing it revokes every grant at once). Browsers keep it in a short-lived
HttpOnly cookie, API clients send it in the ``X-Paste-Unlock`` header. Attempts are limited per
client and per target (a sliding minute).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import time
from concurrent.futures import Executor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tornado_paste import errors
from tornado_paste.core.cursor import SecretNotLoaded

MAX_PASSWORD_BYTES = 1024
_GRANT_VERSION = "v1"


class WrongPassword(errors.Forbidden):
    code = "wrong_password"


class TooManyAttempts(errors.TooMany):
    code = "too_many_attempts"


class Passwords:
    def __init__(self, secret: bytes | None, executor: Executor | None = None, ttl: float = 600.0,
                 per_client: int = 10, per_target: int = 30, window: float = 60.0) -> None:
        # None: the secret is the one kept in MongoDB, keyed at start-up (``rekey``); a 503 until then.
        self._keyed: bytes | None = None
        if secret is not None:
            self.rekey(secret)
        # Parameters fit for an interactive check on a small machine (~20 ms, 19 MiB; OWASP's minimum).
        self._hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        self.executor = executor
        self.ttl = ttl
        self.per_client = per_client
        self.per_target = per_target
        self.window = window
        self._attempts: dict[str, collections.deque[float]] = {}

    def rekey(self, secret: bytes) -> None:
        """Use ``secret`` from now on (every machine of a deployment shares it: core/secret.py)."""
        self._keyed = hmac.new(secret, b"tornado-paste unlock grants", hashlib.sha256).digest()

    # -- hashes ----------------------------------------------------------------------------------
    @staticmethod
    def check_new(password: str) -> str:
        if not password or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            raise errors.BadRequest(f"a password must be 1 to {MAX_PASSWORD_BYTES} bytes")
        return password

    async def hash(self, password: str) -> str:
        self.check_new(password)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        if not password or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            return False

        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.get_running_loop().run_in_executor(self.executor, check)

    # -- attempts --------------------------------------------------------------------------------
    def attempt(self, client: str, target: str, now: float | None = None) -> None:
        """Count one attempt, or refuse it (429) when the client or the target used its minute's share."""
        now = time.monotonic() if now is None else now
        keys = (f"client:{client}", self.per_client), (f"target:{target}", self.per_target)
        for key, limit in keys:
            seen = self._attempts.get(key)
            while seen and now - seen[0] >= self.window:
                seen.popleft()
            if limit and seen is not None and len(seen) >= limit:
                retry = max(1, int(self.window - (now - seen[0])) + 1)
                raise TooManyAttempts("too many password attempts; try again later", retry_after=retry)
        for key, _limit in keys:
            self._attempts.setdefault(key, collections.deque()).append(now)
        if len(self._attempts) > 100_000:  # forget idle keys first (bounded memory)
            for key in [k for k, v in self._attempts.items() if not v or now - v[-1] >= self.window]:
                del self._attempts[key]

    async def unlock(self, password_hash: str, password: str, client: str, target: str) -> str:
        """Check a password (counted as an attempt) and return a grant for ``target``."""
        self.attempt(client, target)
        if not await self.verify(password_hash, password):
            raise WrongPassword("wrong password")
        return self.grant(target, password_hash)

    # -- grants ----------------------------------------------------------------------------------
    def _sign(self, body: str, password_hash: str) -> str:
        if self._keyed is None:
            raise SecretNotLoaded("the deployment secret is not loaded yet (the metadata store is unavailable)")
        mac = hmac.new(self._keyed, f"{body}\n{password_hash}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def grant(self, target: str, password_hash: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.ttl)
        body = f"{_GRANT_VERSION}.{target}.{expires}"
        return f"{body}.{self._sign(body, password_hash)}"

    def grant_valid(self, grant: str | None, target: str, password_hash: str, now: float | None = None) -> bool:
        if not grant or len(grant) > 512:
            return False
        body, _, mac = grant.rpartition(".")
        version, _, rest = body.partition(".")
        granted, _, expires = rest.rpartition(".")
        if version != _GRANT_VERSION or granted != target or not expires.isdigit():
            return False
        if not hmac.compare_digest(mac, self._sign(body, password_hash)):
            return False
        return int(expires) > (time.time() if now is None else now)
