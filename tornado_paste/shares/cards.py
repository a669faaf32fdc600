"""The public face of a collection and of an upload request: links built from the configured base
URL (like ``core.cards.Links``) and the JSON/msgpack cards. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from tornado_paste.core.cards import Links
from tornado_paste.core.records import CollectionRecord, FileRecord, human_size, iso8601


def collection_url(links: Links, code: str) -> str:
    return f"{links.base}/c/{code}"


def collection_links(links: Links, code: str) -> dict[str, str]:
    return {"url": collection_url(links, code), "url_s": f"{links.base}/s/{code}",
            "url_zip": f"{links.base}/c/{code}/zip", "url_api": f"{links.base}/api/v1/collections/{code}"}


def manage_links(links: Links, coll: CollectionRecord, token: str, request_code: str | None) -> dict[str, Any]:
    """What only the creator gets, once: the manage token and links carrying it in the fragment."""
    out: dict[str, Any] = {"manage_token": token, "url_manage": f"{links.base}/m/c/{coll.code}#{token}"}
    if request_code is not None:
        out["request_code"] = request_code
        out["url_upload"] = f"{links.base}/u/{request_code}"
    return out


def request_limits(coll: CollectionRecord) -> dict[str, Any] | None:
    if coll.request is None:
        return None
    req = coll.request
    return {"max_files": coll.max_files, "max_bytes": coll.max_bytes, "max_file_size": req.get("max_file_size"),
            "allowed_types": req.get("allowed_types") or [], "closes_at": req.get("closes_at"),
            "uploader_view": req.get("uploader_view", "own"), "used_files": coll.used_files,
            "used_bytes": coll.used_bytes, "open": coll.request_hash is not None}


def collection_card(links: Links, coll: CollectionRecord, files: list[FileRecord] | None = None,
                    manage: bool = False, zip_size: int | None = None) -> dict[str, Any]:
    """``files``: the members this viewer may see, in order (None: the card without its members)."""
    card: dict[str, Any] = {
        "code": coll.code,
        "title": coll.title,
        **collection_links(links, coll.code),
        "private": coll.private,
        "created_at": iso8601(coll.created_at),
        "expires_at": iso8601(coll.expires_at) if coll.expires_at else None,
        "password": coll.password_hash is not None,
        "max_downloads": coll.max_downloads,
        "downloads": coll.downloads,
    }
    if files is not None:
        total = sum(f.size for f in files)
        card.update({"count": len(files), "total_size": total, "total_size_human": human_size(total),
                     "files": [links.card(f) for f in files], "zip_size": zip_size})
    if manage:
        card["request"] = request_limits(coll)
    return card
