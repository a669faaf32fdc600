"""A file's manage token (the delete token, generalised) and its download gate.

What the manage token changes: expiry (extend or shorten, within the policy), private, name,
password (set or clear), download limit (set or clear), and delete. Every check of a token is in
constant time (``token_matches``); tokens are stored only as hashes.

The download gate: a file with a limit is counted once per answer that carries its bytes (a GET
with a body, Range or not; never HEAD, 304 or 416), in one atomic conditional increment in the
store, before the answer starts (also when nginx sends the bytes via X-Accel). The answer that takes
the last download burns the file: it answers 410 from then on, the feed hears ``file.deleted`` at
once, and the sweeper removes record and blob after ``share_burn_grace`` (the bytes nginx may still
be sending). An aborted download still counts: the server cannot tell a cut-off reader from one
that kept what it got.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from tornado_paste import errors
from tornado_paste.core.filenames import clean_filename
from tornado_paste.core.ingest import Ingestor, token_matches
from tornado_paste.core.records import FileRecord, extension_for, new_short_code, utcnow
from tornado_paste.shares.passwords import Passwords
from tornado_paste.shares.policy import BadShareOption, SharePolicy, share_updates
from tornado_paste.storage.base import DuplicateContent, ExpiryIndex, FileControls

# (user agent, method, headers) -> whether a link previewer, not a person, sent the request.
Unfurler = Callable[[str | None, str | None, Mapping[str, str] | None], bool]

MANAGE_FIELDS = frozenset({"filename", "private", "expires", "password", "max_downloads"})


class BadManageToken(errors.Forbidden):
    code = "bad_token"


class DownloadLimitReached(errors.Gone):
    code = "download_limit_reached"


class AlreadyStored(errors.Conflict):
    code = "already_stored"


class FileShares:
    def __init__(self, controls: FileControls, expiry: ExpiryIndex, ingestor: Ingestor, policy: SharePolicy,
                 passwords: Passwords, burn_grace: float = 60.0, unfurler: Unfurler | None = None) -> None:
        self.controls = controls
        self.expiry = expiry
        self.ingestor = ingestor
        self.policy = policy
        self.passwords = passwords
        self.burn_grace = burn_grace
        # Who is a link previewer rather than a person (services passes the previews' ``is_unfurler``).
        self.unfurler = unfurler

    def is_unfurler(self, user_agent: str | None, method: str | None, headers: Mapping[str, str] | None) -> bool:
        """A link preview fetch, which never uses up a download (nobody is told without the check wired)."""
        return self.unfurler is not None and self.unfurler(user_agent, method, headers)

    # -- at upload -------------------------------------------------------------------------------
    async def new_file_fields(self, max_downloads: Any = None, burn: Any = None,
                              password: str | None = None) -> dict[str, Any]:
        """Record fields for a new upload's share options (they hold from the record's first moment)."""
        fields: dict[str, Any] = {}
        limit = self.policy.download_limit(max_downloads, burn)
        if limit is not None:
            fields["max_downloads"] = limit
        self.policy.check_password_kept(bool(password))
        if password:
            fields["password_hash"] = await self.passwords.hash(password)
        return fields

    @staticmethod
    def check_created(created: bool, fields: dict[str, Any]) -> None:
        """Share options apply to new files only: known bytes are another file, not the uploader's to limit."""
        if fields and not created:
            raise AlreadyStored("these bytes are already stored as another file; a download limit or password "
                                "can only be set on a new upload (or with that file's manage link)")

    # -- the manage token ------------------------------------------------------------------------
    @staticmethod
    def check_token(record: FileRecord, token: str | None) -> None:
        if not token_matches(token, record.delete_token_hash):
            raise BadManageToken("the manage token does not match this file")

    async def manage(self, record: FileRecord, token: str | None, changes: dict[str, Any]) -> FileRecord:
        """Apply what the manage token may change; ``{}`` only checks the token."""
        self.check_token(record, token)
        unknown = set(changes) - MANAGE_FIELDS
        if unknown:
            raise BadShareOption(f"unknown field(s): {', '.join(sorted(unknown))}; "
                                 f"a manage link changes {', '.join(sorted(MANAGE_FIELDS))}")
        updates: dict[str, Any] = {}
        if "filename" in changes:
            name = changes["filename"]
            if not isinstance(name, str) or not name.strip() or len(name.encode("utf-8")) > 1024:
                raise BadShareOption("'filename' must be a non-empty string")
            updates["filename"] = clean_filename(name, extension_for(record.mimetype))
        if "private" in changes:
            if not isinstance(changes["private"], bool):
                raise BadShareOption("'private' must be true or false")
            if changes["private"] != record.private:
                updates["private"] = changes["private"]
                if changes["private"]:
                    # A private file's /s/ code is a stronger capability than the listed one it had.
                    updates["short_code"] = new_short_code(True)
        updates.update(await share_updates(self.policy, self.passwords, changes, record.size, record.downloads))
        if not updates:
            return record
        try:
            changed = await self.controls.update(record.filehash, updates)
        except DuplicateContent as exc:
            # Only one public file per content (the dedupe target): this one stays private.
            raise AlreadyStored("these bytes are already public as another file; this one stays private") from exc
        if changed is None:
            raise errors.NotFound("no such file")
        if (changed.guarded and not record.guarded) or changed.private != record.private:
            await self._drop_derivatives(changed)
        return changed

    async def _drop_derivatives(self, record: FileRecord) -> None:
        """Resized copies and posters would be the bytes without the password or the count, or carry the
        old visibility (a public copy of a now private file): they go, and are made again on demand."""
        if record.id is None:
            return
        for child in await self.expiry.children(record.id):
            await self.ingestor.remove(child)

    # -- the download gate -----------------------------------------------------------------------
    async def claim_download(self, record: FileRecord) -> None:
        """Count one download of a limited file, or refuse it (410) once the limit is reached."""
        if record.max_downloads is None:
            return
        count = await self.controls.claim_download(record.filehash)
        if count is None:
            raise DownloadLimitReached("this file reached its download limit and is gone")
        record.downloads = count
        if count >= record.max_downloads:
            await self.burn(record)

    async def burn(self, record: FileRecord) -> None:
        """The last download was taken: gone now for everyone; bytes kept ``burn_grace`` for nginx."""
        until = utcnow() + timedelta(seconds=self.burn_grace)
        if record.expires_at is None or record.expires_at > until:
            await self.controls.update(record.filehash, {"expires_at": until})
            record.expires_at = until
        await self.ingestor.publish("file.deleted", record)
