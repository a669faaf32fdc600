"""``/api/v1/openapi.yaml``: the API description (docs/openapi.yaml), served as it is on disk."""

from __future__ import annotations

import os

from handlers.base import BaseHandler

OPENAPI_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "openapi.yaml")


class OpenAPIHandler(BaseHandler):
    route_name = "openapi"
    # Read once per process (a few kB, at the first request) instead of on every request.
    _document: bytes | None = None

    def get(self) -> None:
        cls = type(self)
        if cls._document is None:
            with open(OPENAPI_PATH, "rb") as handle:
                cls._document = handle.read()
        self.set_header("Content-Type", "application/yaml; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(cls._document)  # Tornado adds the ETag and answers If-None-Match with 304
