"""Retention: how long a file lives, and the sweeper that removes it afterwards.

Lifetime: an upload may ask for ``expires=1h|1d|7d|30d|never``; without it the
configured default applies (``policy`` = the size-based rule below). When the
size policy is on it is also a ceiling: a client may ask for *less* time than
its file's size earns, never more (so ``never`` means "as long as allowed").

Size policy (the rule 0x0.st made popular): a file of size ``s`` out of the
upload limit ``M`` lives ``min_age + (max_age - min_age) * (1 - s/M) ** 3``:
small files get nearly ``max_age``, files near the limit get ``min_age``.

Sweeping is safe with several processes (or machines) doing it at once:
deleting a record by id is idempotent, and a blob is removed only when no
record references it, through ``Ingestor.drop_blob_if_unreferenced`` (retire,
re-check, purge or restore), which an upload of the same bytes racing with it
repairs by re-checking the blob after its own insert.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tornado_paste.core.ingest import IngestError, Ingestor
from tornado_paste.core.records import utcnow
from tornado_paste.core.tasks import Periodic
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import ExpiryIndex, FileStore
from tornado_paste.storage.blobs.base import BlobStore

log = logging.getLogger(__name__)

HOUR = 3600.0
DAY = 24 * HOUR
# The choices a client may send; None = no expiry of its own.
CHOICES: dict[str, float | None] = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "never": None}
POLICY = "policy"


class BadExpiry(IngestError):
    code = "bad_expires"


class RetentionPolicy:
    def __init__(self, default: str = POLICY, min_age: float = 30 * DAY, max_age: float = 365 * DAY,
                 max_size: int = 1 << 30, cap: float = 0.0) -> None:
        self.min_age = max(0.0, min_age)
        self.max_age = max(0.0, max_age)
        self.max_size = max(1, max_size)
        # The operator's maximum lifetime for any file (``expires_max``; 0 = only the size policy).
        self.cap = max(0.0, cap)
        self.default = self.check(default, allow_policy=True) or POLICY

    @property
    def size_policy_on(self) -> bool:
        return self.max_age > 0

    def check(self, choice: str | None, allow_policy: bool = False) -> str | None:
        """Validate a client's ``expires`` value (None/empty = not given)."""
        if choice is None or not choice.strip():
            return None
        value = choice.strip().lower()
        if value in CHOICES or (allow_policy and value == POLICY):
            return value
        raise BadExpiry(f"'expires' must be one of {', '.join(CHOICES)}")

    def policy_lifetime(self, size: int) -> float | None:
        """Seconds a file of ``size`` bytes may live under the size policy (None: forever)."""
        if not self.size_policy_on:
            return None
        ratio = min(1.0, max(0.0, size / self.max_size))
        low = min(self.min_age, self.max_age)
        return low + (self.max_age - low) * (1.0 - ratio) ** 3

    def ceiling(self, size: int) -> float | None:
        """The longest a file of ``size`` bytes may live: the size policy and the operator's cap (None: forever)."""
        ceiling = self.policy_lifetime(size)
        if self.cap:
            ceiling = self.cap if ceiling is None else min(ceiling, self.cap)
        return ceiling

    def lifetime(self, size: int, choice: str | None) -> float | None:
        """Seconds this upload lives (None: until deleted)."""
        choice = self.check(choice) or self.default
        ceiling = self.ceiling(size)
        asked = ceiling if choice == POLICY else CHOICES[choice]
        if asked is None:
            return ceiling
        return asked if ceiling is None else min(asked, ceiling)

    def expires_at(self, size: int, choice: str | None, now: datetime | None = None) -> datetime | None:
        seconds = self.lifetime(size, choice)
        if seconds is None:
            return None
        return ((now or utcnow()) + timedelta(seconds=seconds)).replace(microsecond=0)


# -- the sweeper --------------------------------------------------------------

@dataclass
class SweepReport:
    records: int = 0
    blobs: int = 0


class Sweeper:
    def __init__(self, store: FileStore, index: ExpiryIndex, ingestor: Ingestor, blobs: BlobStore, metrics: Metrics,
                 interval: float, grace: float, orphan_interval: float, batch: int = 200) -> None:
        self.store = store
        self.index = index
        self.ingestor = ingestor
        self.blobs = blobs
        self.metrics = metrics
        self.interval = interval
        self.grace = grace
        self.orphan_interval = orphan_interval
        self.batch = batch
        self._periodic = Periodic("retention sweep", interval, self.sweep_once, jitter=0.2)
        self._last_orphans = 0.0

    async def sweep_expired(self, now: datetime | None = None) -> SweepReport:
        """Delete every expired record, then its blob when nothing else references it."""
        now = now or datetime.now(UTC)
        report = SweepReport()
        while True:
            records = await self.index.expired(now, self.batch)
            if not records:
                break
            for record in records:
                assert record.id is not None
                # Derivatives first, so none is ever left pointing at a removed parent.
                for victim in [*await self.index.children(record.id), record]:
                    assert victim.id is not None
                    async with self.ingestor.blob_locks.hold(victim.sha256):
                        deleted = await self.store.delete_file(victim.id)
                        report.blobs += await self._drop_blob(victim.sha256)
                    if deleted:  # another process may have beaten us to it: it counts, not us
                        report.records += 1
                        if not victim.exhausted:  # a burned file's deletion was announced when it burned
                            await self.ingestor.publish("file.deleted", victim)
            if len(records) < self.batch:
                break
        self._count(report)
        return report

    async def _drop_blob(self, sha256: str) -> int:
        blobs = self.blobs
        if not await blobs.exists(sha256):
            return 0
        await self.ingestor.drop_blob_if_unreferenced(sha256)
        return 0 if await blobs.exists(sha256) else 1

    async def sweep_orphans(self) -> SweepReport:
        """Delete blobs that no record references, once older than the grace period.

        The grace is belt and braces (the ingest path repairs a blob removed
        between its link and its insert); it also leaves a just-written blob
        alone while features such as derivatives are still recording it.
        """
        report = SweepReport()
        candidates = await self.blobs.list_blobs()
        now = time.time()
        for name, mtime in candidates:
            if now - mtime < self.grace:
                continue
            async with self.ingestor.blob_locks.hold(name):
                report.blobs += await self._drop_blob(name)
        self._count(report)
        return report

    def _count(self, report: SweepReport) -> None:
        metrics = self.metrics
        if report.records:
            metrics.incr("retention.swept", report.records)
        if report.blobs:
            metrics.incr("retention.blobs_removed", report.blobs)

    async def sweep_once(self) -> SweepReport:
        report = await self.sweep_expired()
        if time.monotonic() - self._last_orphans >= self.orphan_interval:
            self._last_orphans = time.monotonic()
            orphans = await self.sweep_orphans()
            report.blobs += orphans.blobs
        return report

    async def start(self) -> None:
        # The first orphan pass waits a full interval: start-up is busy enough.
        self._last_orphans = time.monotonic()
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()


class Retention:
    """What handlers use: the policy, the expiry index and the sweeper.

    A record's expiry is set once, by its own upload: a repeat upload of the same bytes never
    moves it (a public dedupe hit answers the existing card as it is; any other upload gets a
    record of its own with its own lifetime). The blob lives as long as the longest-lived record
    that references it: the sweeper removes a record, and the blob only once no record uses it.
    """

    def __init__(self, policy: RetentionPolicy, index: ExpiryIndex, sweeper: Sweeper) -> None:
        self.policy = policy
        self.index = index
        self.sweeper = sweeper
