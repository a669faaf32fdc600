"""Collections: an ordered set of files under one link, managed with its own token.

Visibility, expiry, password and deletion act on the collection as a whole and never widen a
member's own: a member that is private shows only if its owner put it there (its own manage token,
or uploaded into the collection), a member's own expiry, password and download limit still hold,
and the archive leaves out members guarded by a password or a download limit. Files uploaded into
the collection (``owned``) go when it goes; files added from elsewhere are only unlinked.

Changes are announced as ``collection.updated`` events (``action``: added, removed, changed, deleted),
private to the subscribers that name the collection (``?collection=<code>``).
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tornado_paste import errors
from tornado_paste.core.cards import Links
from tornado_paste.core.ingest import Ingestor, hash_token, token_matches
from tornado_paste.core.records import CollectionRecord, FileRecord, utcnow
from tornado_paste.shares.cards import collection_card
from tornado_paste.shares.passwords import Passwords
from tornado_paste.shares.policy import BadShareOption, SharePolicy, share_updates
from tornado_paste.shares.zipper import Entry, ZipPlan
from tornado_paste.storage.base import CollectionStore, DuplicateContent, FileStore

log = logging.getLogger(__name__)

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 11  # 62**11: 65 bits, an unguessable capability even for a private collection
MAX_TITLE = 200
FIELDS = frozenset({"title", "private", "expires", "password", "max_downloads"})

# (collection code, action, private, body) -> the event log.
Publisher = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class CollectionGone(errors.Gone):
    code = "gone"


class BadCollectionToken(errors.Forbidden):
    code = "bad_token"


class CollectionFull(errors.TooLarge):
    code = "collection_full"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_code(text: str) -> bool:
    return len(text) == CODE_LENGTH and text.isascii() and text.isalnum()


class Collections:
    def __init__(self, store: FileStore, collections: CollectionStore, ingestor: Ingestor, links: Links,
                 policy: SharePolicy, passwords: Passwords, max_files: int = 1000, burn_grace: float = 60.0) -> None:
        self.files = store
        self.store = collections
        self.ingestor = ingestor
        self.links = links
        self.policy = policy
        self.passwords = passwords
        self.max_files = max_files
        self.burn_grace = burn_grace
        self.publishers: list[Publisher] = []

    async def publish(self, code: str, action: str, file: FileRecord | None = None) -> None:
        body: dict[str, Any] = {"collection": code, "action": action}
        if file is not None:
            body["file"] = self.links.card(file)
        for publish in self.publishers:
            try:
                await publish(code, action, body)
            except Exception:
                log.exception("collection event failed for %s", code)

    # -- creating and finding --------------------------------------------------------------------
    async def create(self, options: dict[str, Any], request: dict[str, Any] | None = None,
                     request_hash: str | None = None) -> tuple[CollectionRecord, str]:
        """A new collection and its manage token (the only time the token is seen)."""
        unknown = set(options) - FIELDS
        if unknown:
            raise BadShareOption(f"unknown field(s): {', '.join(sorted(unknown))}")
        title = self._title(options.get("title"))
        private = options.get("private", True)
        if not isinstance(private, bool):
            raise BadShareOption("'private' must be true or false")
        password = options.get("password")
        if password is not None and not isinstance(password, str):
            raise BadShareOption("'password' must be a string")
        self.policy.check_password_kept(bool(password))
        expires_at = self.policy.expiry(0, options.get("expires"))
        token = secrets.token_urlsafe(24)
        limits = request or {}
        for _ in range(5):
            coll = CollectionRecord(
                code=new_code(), title=title, created_at=utcnow(), manage_token_hash=hash_token(token),
                private=private, expires_at=expires_at,
                password_hash=await self.passwords.hash(password) if password else None,
                max_downloads=self.policy.download_limit(options.get("max_downloads")),
                request_hash=request_hash, request=limits.get("request"), max_files=limits.get("max_files"),
                max_bytes=limits.get("max_bytes"))
            try:
                await self.store.create(coll)
            except DuplicateContent:
                continue  # a code (65 bits) taken: astronomically rare, but cheap to retry
            return coll, token
        raise errors.Unavailable("could not allocate a collection code")

    @staticmethod
    def _title(value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > MAX_TITLE:
            raise BadShareOption(f"'title' must be a string of at most {MAX_TITLE} characters")
        return " ".join(value.split())

    async def get(self, code: str) -> CollectionRecord:
        """A live collection, or 404 (unknown) / 410 (expired, or past its download limit)."""
        coll = await self.store.get(code) if is_code(code) else None
        if coll is None:
            raise errors.NotFound("no such collection")
        if coll.exhausted:
            raise CollectionGone("this collection reached its download limit and is gone")
        if coll.expires_at is not None and coll.expires_at <= utcnow():
            raise CollectionGone("this collection has expired")
        return coll

    @staticmethod
    def check_token(coll: CollectionRecord, token: str | None) -> None:
        if not token_matches(token, coll.manage_token_hash):
            raise BadCollectionToken("the manage token does not match this collection")

    async def visible_files(self, coll: CollectionRecord, manager: bool = False) -> list[FileRecord]:
        """Members this viewer may see, in order: live ones; a private member only if its owner added it."""
        now = utcnow()
        out = []
        for member in await self.store.members(coll.code):
            record = await self.files.get_by_filehash(member.filehash)
            if record is None or record.exhausted or (record.expires_at is not None and record.expires_at <= now):
                continue
            if record.private and not (member.by_owner or manager):
                continue
            out.append(record)
        return out

    async def card(self, coll: CollectionRecord, manager: bool = False) -> dict[str, Any]:
        files = await self.visible_files(coll, manager)
        zip_size = None
        zipped = [f for f in files if not f.guarded]
        if zipped:
            zip_size = ZipPlan([Entry(f.filename, f.size, f.sha256, f.uploaded_at) for f in zipped]).size
        return collection_card(self.links, coll, files, manage=manager, zip_size=zip_size)

    # -- members ---------------------------------------------------------------------------------
    async def add(self, coll: CollectionRecord, token: str | None, wanted: list[tuple[str, str | None]]
                  ) -> list[FileRecord]:
        """Add existing files: each needs its own manage token, or to be public."""
        self.check_token(coll, token)
        found = []
        for filehash, file_token in wanted:
            record = await self.files.get_by_filehash(filehash)
            if record is None or record.exhausted or (record.expires_at is not None and record.expires_at <= utcnow()):
                raise errors.NotFound(f"no such file: {filehash}")
            by_owner = token_matches(file_token, record.delete_token_hash)
            if file_token and not by_owner:
                raise BadCollectionToken(f"the manage token does not match the file {filehash}")
            if record.private and not by_owner:
                raise errors.Forbidden(f"{filehash} is private: add it with its own manage token")
            found.append((record, by_owner))
        for record, by_owner in found:
            await self._add_member(coll, record, by_owner, owned=False)
        return [r for r, _ in found]

    async def add_uploaded(self, coll: CollectionRecord, record: FileRecord, created: bool) -> bool:
        """A file uploaded into the collection: its uploader put it there (owned when it is new).
        True when it joined now (False: it was a member already)."""
        return await self._add_member(coll, record, by_owner=True, owned=created)

    async def _add_member(self, coll: CollectionRecord, record: FileRecord, by_owner: bool, owned: bool) -> bool:
        members = await self.store.members(coll.code)
        if len(members) >= self.max_files and all(m.filehash != record.filehash for m in members):
            raise CollectionFull(f"a collection holds at most {self.max_files} files")
        _member, created = await self.store.add_member(coll.code, record.filehash, utcnow(), by_owner, owned)
        if created:
            await self.publish(coll.code, "added", record if (by_owner or not record.private) else None)
        return created

    async def remove(self, coll: CollectionRecord, token: str | None, filehash: str) -> bool:
        """Take a file out; one uploaded into the collection is deleted with it."""
        self.check_token(coll, token)
        members = {m.filehash: m for m in await self.store.members(coll.code)}
        member = members.get(filehash)
        if member is None or not await self.store.remove_member(coll.code, filehash):
            return False
        record = await self.files.get_by_filehash(filehash)
        if coll.request is not None and record is not None:
            await self.store.reserve(coll.code, -1, -record.size)  # the request link may take another
        if member.owned and record is not None:
            await self.ingestor.remove(record)
        await self.publish(coll.code, "removed", record)
        return True

    async def update(self, coll: CollectionRecord, token: str | None, changes: dict[str, Any]) -> CollectionRecord:
        self.check_token(coll, token)
        unknown = set(changes) - FIELDS
        if unknown:
            raise BadShareOption(f"unknown field(s): {', '.join(sorted(unknown))}")
        updates: dict[str, Any] = {}
        if "title" in changes:
            updates["title"] = self._title(changes["title"])
        if "private" in changes:
            if not isinstance(changes["private"], bool):
                raise BadShareOption("'private' must be true or false")
            updates["private"] = changes["private"]
        updates.update(await share_updates(self.policy, self.passwords, changes, 0, coll.downloads))
        changed = await self.store.update(coll.code, updates) if updates else coll
        if changed is None:
            raise errors.NotFound("no such collection")
        await self.publish(coll.code, "changed")
        return changed

    async def delete(self, coll: CollectionRecord, token: str | None) -> None:
        self.check_token(coll, token)
        await self.remove_collection(coll)

    async def remove_collection(self, coll: CollectionRecord) -> None:
        """The collection goes, with the files uploaded into it; files added from elsewhere stay."""
        members = await self.store.members(coll.code)
        if not await self.store.delete(coll.code):
            return
        for member in members:
            if member.owned:
                record = await self.files.get_by_filehash(member.filehash)
                if record is not None and await self.store.containing(member.filehash) == []:
                    await self.ingestor.remove(record)
        await self.publish(coll.code, "deleted")

    # -- downloads of the archive ----------------------------------------------------------------
    async def claim_download(self, coll: CollectionRecord) -> None:
        if coll.max_downloads is None:
            return
        count = await self.store.claim_download(coll.code)
        if count is None:
            raise CollectionGone("this collection reached its download limit and is gone")
        if count >= coll.max_downloads:
            # Gone now (410); removed with its files by the sweep once nginx had time to send the bytes.
            until = utcnow() + timedelta(seconds=self.burn_grace)
            await self.store.update(coll.code, {"expires_at": until})
            await self.publish(coll.code, "deleted")

    # -- what happens elsewhere --------------------------------------------------------------------
    async def on_file_event(self, event_type: str, record: FileRecord) -> None:
        """An ingest listener: a deleted file leaves every collection that held it."""
        if event_type != "file.deleted":
            return
        for code in await self.store.containing(record.filehash):
            if await self.store.remove_member(code, record.filehash):
                coll = await self.store.get(code)
                if coll is not None and coll.request is not None:
                    await self.store.reserve(code, -1, -record.size)
                await self.publish(code, "removed", record)

    async def sweep(self) -> int:
        """Remove expired collections (and what was uploaded into them)."""
        removed = 0
        while True:
            expired = await self.store.expired(utcnow(), 100)
            for coll in expired:
                await self.remove_collection(coll)
                removed += 1
            if len(expired) < 100:
                return removed
