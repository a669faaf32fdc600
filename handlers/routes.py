"""The route table, in one place, and the Tornado Application around the services."""

from __future__ import annotations

import os
from typing import Any

import tornado.httputil
import tornado.web

from handlers.access_log import log_request
from handlers.api import FileListHandler, FileResourceHandler, HealthHandler
from handlers.base import NotFoundHandler
from handlers.clients import ClientConfigHandler, ClientIndexHandler
from handlers.compression import PasteGZip
from handlers.deletion import DeletePageHandler
from handlers.events import EventPollHandler, EventSocketHandler
from handlers.files import FILEHASH_PATTERN, DownloadHandler, RawHandler, ShortLinkHandler, StaticHandler
from handlers.openapi import OpenAPIHandler
from handlers.pages import APIReferenceHandler, PreviewHandler, QRCodeHandler
from handlers.paste import PasteIndexHandler
from handlers.previews import OEmbedHandler, PosterHandler
from handlers.resize import ResizeHandler
from handlers.shares_api import (
    CollectionFilesHandler,
    CollectionHandler,
    CollectionsHandler,
    CollectionUnlockHandler,
    FileUnlockHandler,
)
from handlers.shares_pages import CollectionPageHandler, ManageCollectionPageHandler, ManageFilePageHandler
from handlers.shares_upload import (
    CollectionFormUploadHandler,
    CollectionPutUploadHandler,
    RequestPutUploadHandler,
    RequestUploadHandler,
)
from handlers.shares_zip import CollectionZipHandler
from handlers.tus import TusCollectionHandler, TusUploadHandler
from handlers.upload import RawUploadHandler
from tornado_paste.services import Services

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FH = f"({FILEHASH_PATTERN})"
CODE = "([A-Za-z0-9]{11})"  # a collection (tornado_paste/shares/collections.py)
REQUEST = "([A-Za-z0-9_-]{16,64})"  # an upload-request link (tornado_paste/shares/requests.py)


def routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    # Tornado tries the rules in order: the health probe, hit every few seconds by every balancer, first.
    return [
        (r"/healthz", HealthHandler),
        (r"/", PasteIndexHandler),
        (rf"/p/{FH}", PreviewHandler),
        (rf"/p/{FH}/qr\.svg", QRCodeHandler),
        (rf"/i/{FH}", RawHandler),
        (rf"/d/{FH}", DownloadHandler),
        (r"/s/([A-Za-z0-9]{1,32})", ShortLinkHandler),
        (rf"/delete/{FH}", DeletePageHandler),
        (rf"/r/{FH}", ResizeHandler),
        (rf"/t/{FH}", PosterHandler),
        (r"/api/v1/oembed", OEmbedHandler),
        (r"/api/v1/files", FileListHandler),
        (rf"/api/v1/files/{FH}/unlock", FileUnlockHandler),
        (r"/api/v1/files/([^/]+)", FileResourceHandler),
        (r"/api/v1/collections", CollectionsHandler),
        (rf"/api/v1/collections/{CODE}", CollectionHandler),
        (rf"/api/v1/collections/{CODE}/files", CollectionFilesHandler),
        (rf"/api/v1/collections/{CODE}/files/{FH}", CollectionFilesHandler),
        (rf"/api/v1/collections/{CODE}/unlock", CollectionUnlockHandler),
        (rf"/api/v1/collections/{CODE}/upload", CollectionFormUploadHandler),
        (rf"/api/v1/collections/{CODE}/upload/([^/]+)", CollectionPutUploadHandler),
        (rf"/c/{CODE}", CollectionPageHandler),
        (rf"/c/{CODE}/zip", CollectionZipHandler),
        (rf"/u/{REQUEST}", RequestUploadHandler),
        (rf"/u/{REQUEST}/([^/]+)", RequestPutUploadHandler),
        (rf"/m/{FH}", ManageFilePageHandler),
        (rf"/m/c/{CODE}", ManageCollectionPageHandler),
        (r"/api/v1/openapi[.]yaml", OpenAPIHandler),
        (r"/api/v1/docs", APIReferenceHandler),
        (r"/api/v1/clients/?", ClientIndexHandler),
        (r"/api/v1/clients/([^/]+)", ClientConfigHandler),
        (r"/ws", EventSocketHandler),
        (r"/api/v1/events", EventPollHandler),
        (r"/api/v1/tus/?", TusCollectionHandler),
        (r"/api/v1/tus/([^/]+)/?", TusUploadHandler),
        # Last: PUT /<filename> (curl -T). Reserved words above win.
        (r"/([^/]+)", RawUploadHandler),
    ]


# Body bytes a route that does not stream may send: those bodies are buffered in memory
# whole, and none of them carries more than a few form fields. Streaming (upload) handlers
# set their own per-request limit in prepare().
BUFFERED_BODY_LIMIT = 64 * 1024


class PasteApplication(tornado.web.Application):
    def get_handler_delegate(self, request: tornado.httputil.HTTPServerRequest,
                             target_class: type[tornado.web.RequestHandler], *args: Any, **kwargs: Any) -> Any:
        # Without this, a 1 GiB POST to /healthz was read into memory before its 405.
        connection = request.connection
        if not getattr(target_class, "_stream_request_body", False) and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(BUFFERED_BODY_LIMIT)
        return super().get_handler_delegate(request, target_class, *args, **kwargs)


def make_app(services: Services, **overrides: object) -> tornado.web.Application:
    settings = dict(
        services=services,
        template_path=os.path.join(ROOT, "templates"),
        static_path=os.path.join(ROOT, "static"),
        static_url_prefix="/static/",
        static_handler_class=StaticHandler,  # so static files are timed and counted too
        default_handler_class=NotFoundHandler,
        autoescape="xhtml_escape",
        log_function=log_request,  # the access log, with delete tokens redacted from query strings
    )
    settings.update(overrides)
    # Our own gzip transform (handlers/compression.py): never ranges, weak ETags, true Repr-Digest.
    transforms = [PasteGZip] if services.settings.compress_responses else []
    return PasteApplication(routes(), transforms=transforms, **settings)
