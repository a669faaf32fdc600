"""``tornado-paste [--server URL] upload FILE|- ... | delete LINK | info LINK`` (``python -m tornado_paste.client``).

``upload`` prints, per file, the short link then the delete link (like ``curl -F file=@x``);
``--json`` prints the whole card instead. Files from ``--tus-threshold`` up go through tus and
resume after an interruption. The server is ``--server``, else ``$TORNADO_PASTE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from tornado_paste.client.http import ClientError, Progress, Server, filehash_of
from tornado_paste.client.tus import StateFile, default_state_file, tus_upload

DEFAULT_SERVER = "http://127.0.0.1:8000"
COMMANDS = ("upload", "delete", "info")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size_arg(text: str) -> int:
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    try:
        return int(text[: len(text) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or k/M/G)") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tornado-paste", description="upload to a tornado-paste server")
    p.add_argument("--server", default=os.environ.get("TORNADO_PASTE_URL", DEFAULT_SERVER),
                   help="the server's public URL (default $TORNADO_PASTE_URL or %(default)s)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("upload", help="upload files (- for standard input)")
    up.add_argument("files", nargs="+", metavar="FILE")
    up.add_argument("--private", action="store_true", help="unlisted: not in the public list or feed")
    up.add_argument("--expires", choices=("1h", "1d", "7d", "30d", "never"), help="lifetime (default: the server's)")
    up.add_argument("--name", help="file name to store (default: the file's; for stdin, the server picks one)")
    up.add_argument("--tus-threshold", type=size_arg, default=size_arg("64M"),
                    help="files at least this big use resumable tus (default 64M)")
    up.add_argument("--chunk-size", type=size_arg, default=size_arg("8M"), help="tus PATCH size (default 8M)")
    up.add_argument("--state-file", default=default_state_file(), help="where unfinished tus uploads are kept")
    up.add_argument("--json", action="store_true", help="print each card as JSON")
    up.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                    help="progress bar on standard error (auto: when it is a terminal)")
    rm = sub.add_parser("delete", help="delete a file: its delete link, or a link/filehash with --token")
    rm.add_argument("link")
    rm.add_argument("--token", help="the delete token (not needed with a delete link)")
    info = sub.add_parser("info", help="print a file's card (JSON)")
    info.add_argument("link")
    return p


@contextlib.contextmanager
def progress_bar(mode: str, label: str, total: int | None) -> Iterator[Progress | None]:
    if mode == "never" or (mode == "auto" and not sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True, force_terminal=mode == "always" or None)
    with Bar("[bold]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console,
             transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


@contextlib.contextmanager
def opened(path: str) -> Iterator[tuple[IO[bytes], int]]:
    """A seekable stream and its size; standard input is spooled to a temporary file first."""
    if path != "-":
        with open(path, "rb") as handle:
            yield handle, os.fstat(handle.fileno()).st_size
        return
    with tempfile.TemporaryFile() as spool:
        while chunk := sys.stdin.buffer.read(1 << 20):
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
        yield spool, size


async def upload_one(server: Server, path: str, args: argparse.Namespace) -> dict[str, Any]:
    name = args.name or ("-" if path == "-" else os.path.basename(path))
    fields = {k: v for k, v in (("expires", args.expires), ("private", "1" if args.private else None)) if v}
    with opened(path) as (stream, size), progress_bar(args.progress, name, size) as progress:
        if size < args.tus_threshold:
            card = await server.upload_form(stream, size, name, fields, progress)
            card.setdefault("transport", "form")
            return card
        key = None
        if path != "-":
            stat = os.stat(path)
            key = f"{server.base}|{os.path.abspath(path)}|{size}|{stat.st_mtime_ns}"
        outcome = await tus_upload(server, stream, size, {"filename": name, **fields}, key,
                                   StateFile(args.state_file), args.chunk_size, progress)
    card = outcome.card
    if outcome.delete_token:
        card["delete_token"] = outcome.delete_token
        card["url_delete"] = f"{server.base}/delete/{card['filehash']}#{outcome.delete_token}"
    card.update(transport="tus", upload_url=outcome.upload_url, resumed_from=outcome.resumed_from)
    return card


def print_card(card: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(card, ensure_ascii=False))
        return
    print(card["url_s"])
    if card.get("url_delete"):
        print(card["url_delete"])
    if card.get("expires_at"):
        print(f"expires {card['expires_at']}", file=sys.stderr)


async def amain(args: argparse.Namespace) -> int:
    server = Server(args.server)
    status = 0
    try:
        if args.command == "upload":
            for path in args.files:
                try:
                    print_card(await upload_one(server, path, args), args.json)
                except (ClientError, OSError) as exc:
                    print(f"tornado-paste: {path}: {exc}", file=sys.stderr)
                    status = 1
                sys.stdout.flush()
        elif args.command == "delete":
            filehash, token = filehash_of(await server.resolve(args.link))
            token = args.token or token
            if not token:
                print("tornado-paste: give a delete link (…/delete/<file>#<token>) or --token", file=sys.stderr)
                return 2
            await server.delete(filehash, token)
            print(f"deleted {filehash}")
        else:
            filehash = filehash_of(await server.resolve(args.link))[0]
            print(json.dumps(await server.card(filehash), indent=2, ensure_ascii=False))
    except ClientError as exc:
        print(f"tornado-paste: {exc}", file=sys.stderr)
        return 1
    finally:
        server.http.close()
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `tornado-paste photo.png` is `tornado-paste upload photo.png`.
    first = next((i for i, a in enumerate(argv)
                  if (a == "-" or not a.startswith("-")) and argv[i - 1:i] != ["--server"]), None)
    if first is not None and argv[first] not in COMMANDS:
        argv = [*argv[:first], "upload", *argv[first:]]
    try:
        return asyncio.run(amain(build_parser().parse_args(argv)))
    except KeyboardInterrupt:
        print("tornado-paste: interrupted; run the same upload again to resume it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
