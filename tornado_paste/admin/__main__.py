"""``python -m tornado_paste.admin [--data-dir D] [--mongo-url U] [--json] COMMAND ...``

Commands: stats | show KEY | remove KEY [--block] [--reason R] | block SHA256... [--reason R] |
unblock SHA256... | blocklist [--limit N] | import-blocklist FILE|- [--reason R] | prune.
The store is the one the server uses: the same settings (TORNADO_PASTE_* variables, or flags).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from settings import Settings
from tornado_paste.admin import commands
from tornado_paste.services import Services, build_services
from tornado_paste.storage import StoreUnavailable


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tornado_paste.admin", description="tornado-paste operator commands")
    p.add_argument("--data-dir", help="the server's data dir (blobs, secret.key, SQLite); default ./data")
    p.add_argument("--mongo-url", help="the server's MongoDB URL; empty = the SQLite file in --data-dir")
    p.add_argument("--mongo-database", help="MongoDB database name")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("stats", help="files, bytes, by type, derivatives, blocked hashes")
    show = sub.add_parser("show", help="one file by filehash, sha256, short code or link")
    show.add_argument("key")
    remove = sub.add_parser("remove", help="delete a file and its derivatives (no token needed)")
    remove.add_argument("key")
    remove.add_argument("--block", action="store_true", help="also block its sha256 (re-uploads answer 451)")
    remove.add_argument("--reason", default="", help="why (kept in the blocklist)")
    block = sub.add_parser("block", help="block sha256 values: uploads and every link of a copy answer 451")
    block.add_argument("sha256", nargs="+")
    block.add_argument("--reason", default="")
    unblock = sub.add_parser("unblock", help="lift blocks")
    unblock.add_argument("sha256", nargs="+")
    listing = sub.add_parser("blocklist", help="the blocked hashes, newest first")
    listing.add_argument("--limit", type=int, default=1000)
    imported = sub.add_parser("import-blocklist", help="block every sha256 of a file (one a line, # comments)")
    imported.add_argument("file", help="path, or - for standard input")
    imported.add_argument("--reason", default="")
    sub.add_parser("prune", help="remove expired files and tus uploads now")
    return p


def _read_lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read().splitlines()


async def run_command(services: Services, args: argparse.Namespace) -> Any:
    name = args.command
    if name == "stats":
        return await commands.stats(services)
    if name == "show":
        return await commands.show(services, args.key)
    if name == "remove":
        return await commands.remove(services, args.key, block=args.block, reason=args.reason)
    if name == "block":
        return await commands.block(services, args.sha256, args.reason)
    if name == "unblock":
        return await commands.unblock(services, args.sha256)
    if name == "blocklist":
        return await commands.blocklist(services, args.limit)
    if name == "import-blocklist":
        return await commands.import_blocklist(services, _read_lines(args.file), args.reason)
    if name == "prune":
        return await commands.prune(services)
    raise AssertionError(name)


def render(name: str, result: Any) -> str:
    """Text for people; ``--json`` prints ``result`` as it is."""
    if name == "stats":
        lines = [f"files: {result['files']} ({result['bytes_human']}, {result['bytes']} bytes)",
                 f"originals: {result['originals']}, derivatives: {result['derivatives']} "
                 f"({result['derivative_bytes']} bytes), private: {result['private']}",
                 f"blocked hashes: {result['blocked']}", "by type:"]
        lines += [f"  {mime}: {t['files']} file(s), {t['bytes']} bytes" for mime, t in result["by_type"].items()]
        return "\n".join(lines)
    if name == "show":
        keys = ("filehash", "filename", "mimetype", "size", "sha256", "private", "uploaded_at", "expires_at",
                "blocked", "blob_present", "url_p", "url_s", "derivatives")
        return "\n".join(f"{key}: {result.get(key)}" for key in keys)
    if name == "blocklist":
        return "\n".join(f"{e['sha256']}  {e['reason']}" for e in result) or "(no blocked hashes)"
    return "\n".join(f"{key}: {value}" for key, value in result.items())


async def amain(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    settings = Settings.from_env(data_dir=args.data_dir, mongo_url=args.mongo_url, mongo_database=args.mongo_database)
    services = build_services(settings)
    try:
        await services.store.open()
        result = await run_command(services, args)
    except commands.AdminError as exc:
        print(f"tornado_paste.admin: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"tornado_paste.admin: the store is unavailable: {exc}", file=sys.stderr)
        return 3
    finally:
        await services.stop()
    out(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(args.command, result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except ValueError as exc:  # bad settings
        print(f"tornado_paste.admin: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
