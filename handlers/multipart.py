"""The multipart targets ``POST /`` feeds its body to: the ``file`` part streams into the core's
``Upload``, small form fields stay in memory (capped), any other part is dropped; every parser
callback counts as progress (see ``MAX_UNPARSED_BYTES`` in handlers/upload.py)."""

from __future__ import annotations

from streaming_form_data.targets import BaseTarget, ValueTarget

from tornado_paste.core.ingest import IngestError, Upload

MAX_FIELD_BYTES = 256


class MalformedMultipart(IngestError):
    """A multipart body we cannot parse. Its code stays ``bad_request``, as the core (and the
    tests of other areas) define it; ``bad_multipart`` names a bad multipart Content-Type."""


class _Progress:
    """Counts parser callbacks, so the handler can tell bytes parsed from bytes buffered."""

    ticks = 0


class _Counting:
    """Mixed into every target: each parser callback is progress."""

    progress: _Progress

    async def on_start_async(self) -> None:
        self.progress.ticks += 1

    async def on_data_received_async(self, chunk: bytes) -> None:
        self.progress.ticks += 1

    async def on_finish_async(self) -> None:
        self.progress.ticks += 1


class _UploadTarget(BaseTarget):
    """Feeds the ``file`` part into the core; refuses a second ``file`` part."""

    def __init__(self, upload: Upload, progress: _Progress) -> None:
        super().__init__()
        self.upload = upload
        self.progress = progress
        self.parts = 0
        self.complete = False

    def on_start(self) -> None:
        self.progress.ticks += 1
        self.parts += 1
        if self.parts > 1:
            raise MalformedMultipart("send exactly one 'file' part")

    async def on_start_async(self) -> None:
        self.on_start()

    async def on_finish_async(self) -> None:
        self.on_finish()

    def on_data_received(self, chunk: bytes) -> None:
        raise AssertionError("the parser is driven through adata_received")

    async def on_data_received_async(self, chunk: bytes) -> None:
        self.progress.ticks += 1
        pending = self.upload.write(chunk)
        if pending is not None:
            await pending

    def on_finish(self) -> None:
        self.progress.ticks += 1
        self.complete = True


class _SmallValue(ValueTarget):
    """A form field kept in memory, refused past a few hundred bytes."""

    def __init__(self, progress: _Progress) -> None:
        super().__init__()
        self.progress = progress

    async def on_start_async(self) -> None:
        self.progress.ticks += 1

    async def on_data_received_async(self, chunk: bytes) -> None:
        self.progress.ticks += 1
        if sum(map(len, self._values)) + len(chunk) > MAX_FIELD_BYTES:
            raise IngestError("form field too long")
        self._values.append(chunk)


class _OtherParts(_Counting, BaseTarget):
    """Registered last for any other part name: drops its bytes, but reports progress."""

    def __init__(self, progress: _Progress) -> None:
        super().__init__()
        self.progress = progress
