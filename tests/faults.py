"""Shared by the reliability tests: a fake StatsD daemon, raw half-sent requests, data-dir checks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from pathlib import Path

import tornado.iostream
import tornado.tcpclient


class FakeStatsd:
    """A UDP socket standing in for the StatsD daemon; collects metric names as they arrive."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.lines
            self.lines.extend(data.decode().splitlines())

    def count(self, name: str) -> int:
        """Sum of a counter's increments seen so far (``prefix.name:N|c``)."""
        total = 0
        for line in self.drain():
            key, _, rest = line.partition(":")
            if key.split(".", 1)[-1] == name and rest.endswith("|c"):
                total += int(rest.split("|")[0])
        return total

    def close(self) -> None:
        self.sock.close()


async def poll(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Wait until ``predicate()`` is true (never a bare sleep); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


async def half_upload(port: int, sent: bytes, declared: int | None, path: str = "/", method: str = "POST",
                      ctype: str = "multipart/form-data; boundary=xyz",
                      headers: dict[str, str] | None = None) -> tornado.iostream.IOStream:
    """Open a connection, send request headers and ``sent`` body bytes, and keep it open."""
    stream = await tornado.tcpclient.TCPClient().connect("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {ctype}", "Accept: application/json"]
    if declared is not None:
        lines.append(f"Content-Length: {declared}")
    else:
        lines.append("Transfer-Encoding: chunked")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    await stream.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    if sent:
        await stream.write(sent if declared is not None else b"%x\r\n%s\r\n" % (len(sent), sent))
    return stream


MULTIPART_HEAD = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n'
                  b"Content-Type: application/octet-stream\r\n\r\n")


def staging_files(data_dir: str | Path) -> list[str]:
    tmp = Path(data_dir) / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def blob_files(data_dir: str | Path) -> list[Path]:
    root = Path(data_dir) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def blobs_intact(data_dir: str | Path) -> list[str]:
    """Blob names whose bytes do not hash to their name (must be empty)."""
    bad = []
    for path in blob_files(data_dir):
        if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            bad.append(path.name)
    return bad
