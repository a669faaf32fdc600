"""The operator's share policy (default and maximum expiry, passwords required, the highest download
limit), and parsing the share options clients send (``expires``, ``max_downloads``, ``burn``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from tornado_paste import errors
from tornado_paste.core.params import truthy
from tornado_paste.core.records import utcnow


class BadShareOption(errors.BadRequest):
    code = "bad_parameter"


class PasswordRequired(errors.BadRequest):
    code = "password_required"


class Lifetimes(Protocol):
    """The retention policy's face (``limits.retention.RetentionPolicy``), handed in by ``services``."""

    default: str

    def check(self, choice: str | None) -> str | None: ...

    def lifetime(self, size: int, choice: str | None) -> float | None: ...

    def ceiling(self, size: int) -> float | None: ...


class SharePolicy:
    def __init__(self, lifetimes: Lifetimes, passwords_required: bool = False, max_downloads: int = 0) -> None:
        self.lifetimes = lifetimes
        self.passwords_required = passwords_required
        self.max_downloads_cap = max_downloads

    def describe(self) -> dict[str, Any]:
        """What clients (the manage page) need to know to offer only what is allowed."""
        ceiling = self.lifetimes.ceiling(0)
        return {"expires_default": self.lifetimes.default, "expires_max_seconds": ceiling,
                "passwords_required": self.passwords_required, "max_downloads": self.max_downloads_cap or None}

    def expiry(self, size: int, value: Any, now: datetime | None = None) -> datetime | None:
        """When something of ``size`` bytes asking for ``value`` (a choice such as ``7d``, or seconds
        from now) expires: never later than the size policy and the operator's maximum allow."""
        now = now or utcnow()
        if isinstance(value, bool):
            raise BadShareOption("'expires' must be 1h, 1d, 7d, 30d, never, or a number of seconds")
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            seconds = float(value)
            if not 0 < seconds < 10 * 365 * 86400 * 10:
                raise BadShareOption("'expires' in seconds must be positive")
            ceiling = self.lifetimes.ceiling(size)
            lifetime: float | None = seconds if ceiling is None else min(seconds, ceiling)
        else:
            try:
                choice = self.lifetimes.check(value if value is None else str(value))
            except errors.Refusal as exc:
                raise BadShareOption(exc.message) from None
            lifetime = self.lifetimes.lifetime(size, choice)
        return None if lifetime is None else (now + timedelta(seconds=lifetime)).replace(microsecond=0)

    def download_limit(self, value: Any, burn: Any = None) -> int | None:
        """``max_downloads`` (a positive integer, or None/"" for none) or ``burn`` (= 1)."""
        if burn is not None and burn is not False and truthy(str(burn)):
            value = 1
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isascii()
                                                                      and value.isdigit() and len(value) < 10)):
            raise BadShareOption("'max_downloads' must be a positive integer")
        limit = int(value)
        if limit < 1:
            raise BadShareOption("'max_downloads' must be a positive integer")
        if self.max_downloads_cap and limit > self.max_downloads_cap:
            raise BadShareOption(f"'max_downloads' may be at most {self.max_downloads_cap} here")
        return limit

    def check_password_kept(self, has_password: bool) -> None:
        if self.passwords_required and not has_password:
            raise PasswordRequired("this service requires a password on every share")


async def share_updates(policy: SharePolicy, passwords: Any, changes: dict[str, Any], size: int,
                        downloads: int) -> dict[str, Any]:
    """The manage-link changes a file and a collection share: expiry, password, download limit
    (``passwords`` hashes; ``size`` sets the expiry ceiling; ``downloads`` so far bound a new limit)."""
    updates: dict[str, Any] = {}
    if "expires" in changes:
        updates["expires_at"] = policy.expiry(size, changes["expires"])
    if "password" in changes:
        password = changes["password"]
        if password is not None and not isinstance(password, str):
            raise BadShareOption("'password' must be a string, or null to clear it")
        policy.check_password_kept(bool(password))
        updates["password_hash"] = await passwords.hash(password) if password else None
    if "max_downloads" in changes:
        limit = policy.download_limit(changes["max_downloads"])
        if limit is not None and limit <= downloads:
            raise BadShareOption(f"'max_downloads' must be above the {downloads} download(s) so far")
        updates["max_downloads"] = limit
    return updates
