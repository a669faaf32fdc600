"""Admission and stall detection for every handler that reads an upload body (POST /, PUT, tus PATCH)."""

from __future__ import annotations

import time
from collections.abc import Awaitable

import tornado.ioloop

from handlers.base import APIError, BaseHandler
from tornado_paste.limits.admission import UploadRefused, UploadTicket


class UploadGuard(BaseHandler):
    """Takes a slot of the client's concurrent uploads and of the process's byte budget, and cuts bodies
    that stall (no byte for ``upload_idle_timeout``) or trickle (below ``upload_min_rate`` on average).

    Subclasses say how many body bytes arrived (``body_received``) and what a cut means for their bytes
    (``on_stalled``); time spent waiting for our own disk (``wait_for_disk``) never counts as a stall.
    """

    ticket: UploadTicket | None = None
    _idle_timer: object | None = None
    _last_body = 0.0
    _admitted_at = 0.0
    _busy = False

    def body_received(self) -> int:
        raise NotImplementedError

    def on_stalled(self, reason: str, code: str, message: str) -> None:
        """Drop or keep what arrived, then call ``send_stalled``."""
        raise NotImplementedError

    def admit(self, declared: int | None) -> None:
        limits = self.services.limits
        try:
            self.ticket = limits.uploads.admit(self.request.remote_ip or "unknown", declared)
        except UploadRefused as exc:
            self.services.ingestor.count_refusal(exc.reason)
            raise
        if limits.upload_idle_timeout > 0:
            self._last_body = self._admitted_at = time.monotonic()
            self._arm_idle_timer(limits.upload_idle_timeout)

    def reserve(self, total: int) -> None:
        """Body bytes so far: they reset the stall clock and take budget as they arrive (never before).

        Past the client's share or the budget the bytes are given back at once (the rest of the body
        is drained and dropped) and the refusal raised for the handler to count and answer.
        """
        self._last_body = time.monotonic()
        if self.ticket is not None:
            try:
                self.ticket.need(total)
            except UploadRefused:
                self.ticket.shed()
                raise

    async def wait_for_disk(self, pending: Awaitable[None]) -> None:
        self._busy = True  # the disk, not the client, is slow while we wait here
        try:
            await pending
        finally:
            self._busy = False

    def _arm_idle_timer(self, delay: float) -> None:
        self._idle_timer = tornado.ioloop.IOLoop.current().call_later(delay, self._check_idle)

    def stop_idle_timer(self) -> None:
        if self._idle_timer is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._idle_timer)
            self._idle_timer = None

    def release_upload(self) -> None:
        self.stop_idle_timer()
        if self.ticket is not None:
            self.ticket.release()
            self.ticket = None

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._finished or self.request.connection is None:
            return
        limits = self.services.limits
        timeout = limits.upload_idle_timeout
        now = time.monotonic()
        if self._busy:
            self._last_body = now
        quiet = now - self._last_body
        if quiet >= timeout:
            self.on_stalled("idle", "upload_stalled", f"no data received for {timeout:g}s")
            return
        # A byte every few seconds never trips the idle timer; the average rate, checked once the
        # upload is two idle periods old, catches that trickle. The required average grows with the
        # time held (upload_min_rate_ramp), so a trickle just above the floor is cut within minutes
        # instead of holding a connection (and its bytes) for hours.
        elapsed = now - self._admitted_at
        required = float(limits.upload_min_rate)
        if limits.upload_min_rate_ramp > 0:
            required *= 1 + elapsed / limits.upload_min_rate_ramp
        if (limits.upload_min_rate > 0 and not self._busy and elapsed >= 2 * timeout
                and self.body_received() / elapsed < required):
            self.on_stalled("slow", "upload_too_slow",
                            f"upload slower than {required:.0f} bytes/s on average (the minimum, "
                            f"{limits.upload_min_rate} bytes/s, grows the longer an upload lasts)")
            return
        self._arm_idle_timer(timeout - quiet)

    def send_stalled(self, code: str, message: str) -> None:
        self.release_upload()
        error = APIError(408, code, message)
        # The body is unread, so Tornado closes the connection after this answer.
        self.send_error(408, exc_info=(APIError, error, None))
