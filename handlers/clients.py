"""``/api/v1/clients/``: uploader configurations (ShareX, a shell script, a curl line) for this server.

Each is built from the configured public URL (tornado_paste/core/uploaders.py), never the Host header.
"""

from __future__ import annotations

from handlers.base import APIError, BaseHandler
from tornado_paste.core import uploaders

# name -> (Content-Type, download as)
CONFIGS = {
    "sharex.sxcu": ("application/json; charset=utf-8", "attachment"),
    "upload.sh": ("text/x-shellscript; charset=utf-8", "attachment"),
    "curl.txt": ("text/plain; charset=utf-8", "inline"),
}


def build(name: str, base: str) -> str:
    if name == "sharex.sxcu":
        return uploaders.sharex_config(base)
    if name == "upload.sh":
        return uploaders.upload_script(base)
    return uploaders.curl_recipe(base) + "\n"


class ClientIndexHandler(BaseHandler):
    """``GET /api/v1/clients``: where each configuration is, and the curl line itself."""

    route_name = "clients"

    def get(self) -> None:
        base = self.services.links.base
        self.set_header("Cache-Control", "no-cache")
        self.send_data({
            "sharex": f"{base}/api/v1/clients/sharex.sxcu",
            "script": f"{base}/api/v1/clients/upload.sh",
            "curl": uploaders.curl_recipe(base),
        })


class ClientConfigHandler(BaseHandler):
    """``GET /api/v1/clients/<name>``: one configuration, as a file to save."""

    route_name = "clients"

    def get(self, name: str) -> None:
        if name not in CONFIGS:
            raise APIError(404, message="no such client configuration (sharex.sxcu, upload.sh, curl.txt)")
        content_type, disposition = CONFIGS[name]
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f'{disposition}; filename="{name}"')
        self.set_header("Cache-Control", "no-cache")
        self.finish(build(name, self.services.links.base))  # Tornado adds the ETag (304 on revalidation)
