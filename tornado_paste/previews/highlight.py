"""Text pastes as syntax-highlighted pages: Pygments on the server, in the bounded executor, cached.

The language comes from the filename (``notes.py``), else from the sniffed type, else Pygments'
guess from the content (only a confident one: a plain-text paste stays plain). Each line is its own
element with an id (``L1``, ``L2``...) and a line-number link, so ``#L10`` highlights by CSS
``:target`` alone and ``#L10-L20`` through static/js/lines.js. Line numbers are CSS-generated
content: copying the code never copies them.

Only a bounded head is highlighted (``max_bytes``, at most ``MAX_LINES`` lines); the page links
the raw file for the rest. Results are kept in an in-process LRU keyed by sha256 (and the
filename, which picks the language), bounded in bytes of HTML.
"""

from __future__ import annotations

import asyncio
import collections
import html
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pygments import highlight as pygmentize
from pygments.formatters.html import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename, get_lexer_for_mimetype
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from tornado_paste import errors
from tornado_paste.core.records import FileRecord
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.blobs.local import BlobStore

MAX_LINES = 5000
# Bytes of the head the language guess looks at, and the score a guess needs to be believed.
GUESS_BYTES = 8192
GUESS_CONFIDENCE = 0.3


class Executor(Protocol):
    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Highlighted:
    html: str
    language: str
    lines: int
    truncated: bool  # the file goes on past what is shown

    @property
    def cost(self) -> int:
        return len(self.html) + 200


class _LineFormatter(HtmlFormatter):
    """One ``<span class="line" id="L<n>">`` per line (a block: no newline between them, or ``<pre>`` would
    show each twice as tall), with its number as a link, in ``<pre><code>``."""

    def wrap(self, source: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
        yield 0, '<pre class="code highlight"><code>'
        number = 0
        for is_line, piece in source:
            if not is_line:
                yield 0, piece
                continue
            number += 1
            body = piece[:-1] if piece.endswith("\n") else piece
            yield 1, (f'<span class="line" id="L{number}"><a class="ln" href="#L{number}" data-line="{number}"'
                      f' aria-label="Line {number}"></a><span class="lc">{body}</span></span>')
        yield 0, "</code></pre>"


def choose_lexer(text: str, filename: str, mimetype: str) -> Lexer:
    """From the filename, else the MIME type, else a confident guess; plain text otherwise."""
    lexer: Lexer | None = None
    try:
        lexer = get_lexer_for_filename(filename, stripnl=False, ensurenl=False)
    except ClassNotFound:
        pass
    if (lexer is None or isinstance(lexer, TextLexer)) and mimetype not in ("text/plain", "application/octet-stream"):
        try:
            lexer = get_lexer_for_mimetype(mimetype, stripnl=False, ensurenl=False)
        except ClassNotFound:
            pass
    if lexer is None or isinstance(lexer, TextLexer):
        guessed = _confident_guess(text[:GUESS_BYTES])
        if guessed is not None:
            return guessed
    return lexer or TextLexer(stripnl=False, ensurenl=False)


def _confident_guess(text: str) -> Lexer | None:
    from pygments.lexers import _iter_lexerclasses

    best, best_score = None, GUESS_CONFIDENCE
    for cls in _iter_lexerclasses():
        score = cls.analyse_text(text)
        if score > best_score:
            best, best_score = cls, score
            if score >= 1.0:
                break
    return best(stripnl=False, ensurenl=False) if best is not None else None


def render(head: bytes, filename: str, mimetype: str, more_after: bool) -> Highlighted:
    """Blocking (for the executor): ``head`` (a file's first bytes) highlighted line by line."""
    text = head.decode("utf-8", errors="replace")
    if more_after:
        text = text.rstrip("\ufffd")  # a multi-byte character cut by the limit
    lines = text.split("\n")
    truncated = more_after
    if len(lines) > MAX_LINES + 1 or (len(lines) == MAX_LINES + 1 and lines[-1]):
        lines, truncated = lines[:MAX_LINES], True
        text = "\n".join(lines) + "\n"
    elif truncated and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # only whole lines of a cut file
    lexer = choose_lexer(text, filename, mimetype)
    formatter = _LineFormatter(nowrap=False, cssclass="highlight")
    out = pygmentize(text, lexer, formatter)
    count = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    return Highlighted(out, lexer.name, count, truncated)


def plain(head: bytes, more_after: bool) -> Highlighted:
    """The same markup without colours (no executor slot free): escaping only, on the loop."""
    text = head.decode("utf-8", errors="replace")
    lines = text.split("\n")[:MAX_LINES]
    if lines and lines[-1] == "":
        lines.pop()
    body = "".join(f'<span class="line" id="L{n}"><a class="ln" href="#L{n}" data-line="{n}" '
                   f'aria-label="Line {n}"></a><span class="lc">{html.escape(line)}</span></span>'
                   for n, line in enumerate(lines, 1))
    markup = f'<div class="highlight"><pre class="code highlight"><code>{body}</code></pre></div>'
    return Highlighted(markup, "Text only", len(lines), more_after or len(text.split("\n")) > MAX_LINES + 1)


class HighlightCache:
    """LRU of rendered pages, bounded by the bytes of HTML it holds; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: collections.OrderedDict[tuple[str, str], Highlighted] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Highlighted | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], value: Highlighted) -> None:
        if value.cost > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old.cost
            self._items[key] = value
            self.bytes += value.cost
            while self.bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.bytes -= evicted.cost

    def __len__(self) -> int:
        return len(self._items)


def _read_head(path: str, limit: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(limit)


class TextPreviews:
    def __init__(self, blobs: BlobStore, executor: Executor, metrics: Metrics, max_bytes: int,
                 cache_bytes: int) -> None:
        self.blobs, self.executor, self.metrics = blobs, executor, metrics
        self.max_bytes = max_bytes
        self.cache = HighlightCache(cache_bytes)

    async def highlighted(self, record: FileRecord) -> Highlighted | None:
        """The highlighted head of a text file (None if its blob cannot be read)."""
        key = (record.sha256, record.filename)
        found = self.cache.get(key)
        if found is not None:
            self.metrics.incr("highlight.cache_hit")
            return found
        try:
            head = await asyncio.to_thread(_read_head, self.blobs.path_for(record.sha256), self.max_bytes)
        except OSError:
            return None
        more = record.size > len(head)
        started = time.monotonic()
        try:
            result = await self.executor.run(render, head, record.filename, record.mimetype, more)
        except errors.Unavailable as exc:  # every worker busy: uncoloured now, coloured next time
            self.metrics.incr(f"highlight.refused.{exc.code}")
            return plain(head, more)
        self.metrics.timing("highlight.duration", (time.monotonic() - started) * 1000)
        self.metrics.incr("highlight.count")
        self.cache.put(key, result)
        return result
