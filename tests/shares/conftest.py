"""Share tests run on both metadata backends: SQLite, and MongoDB (the nx-27017 wire server; a real one
too when TORNADO_PASTE_TEST_MONGO_URL is set)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stores import BACKENDS, dropped_after, store_for
from tornado_paste.services import build_services


@pytest.fixture(params=BACKENDS)
def services(request, io_loop, settings, tmp_path):
    store = None if request.param == "sqlite" else store_for(request, request.param, tmp_path)
    svc = build_services(settings, store=store)
    io_loop.run_sync(svc.start)
    yield svc
    if dropped_after(request.param):
        io_loop.run_sync(lambda: svc.store.client.drop_database(svc.store.db.name))
    io_loop.run_sync(svc.stop)


@pytest.fixture
def api(fetch):
    """``await api(method, path, body=dict|None, headers=...)`` -> (status, decoded JSON or None, response)."""

    async def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                   raw: bytes | None = None) -> tuple[int, Any, Any]:
        hdrs = {"Accept": "application/json", **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        kwargs: dict[str, Any] = {"method": method, "headers": hdrs}
        if data is not None or method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = data or b""
        response = await fetch(path, **kwargs)
        try:
            decoded = json.loads(response.body) if response.body else None
        except ValueError:
            decoded = None
        return response.code, decoded, response

    return call


@pytest.fixture
def put_file(api):
    """``await put_file(data, name, query="", headers=None)`` -> (status, card)."""

    async def call(data: bytes, name: str = "f.txt", query: str = "", headers: dict[str, str] | None = None):
        status, card, _ = await api("PUT", f"/{name}{query}", raw=data, headers=headers)
        return status, card

    return call
