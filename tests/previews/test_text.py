"""Text pastes: raw-body POST / (curl --data-binary) and PUT /name.ext; highlighted previews with line
anchors, a bounded head for big files, rendered in the executor and cached by sha256."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.conftest import body_of, path_of
from tests.helpers import ROOT
from tornado_paste.previews import highlight

PYTHON_SOURCE = b'import os\n\n\ndef main():\n    """Say hello."""\n    print("hello")\n'


@pytest.fixture
def renders(monkeypatch):
    """Thread names of every Pygments rendering (the executor job)."""
    seen = []
    original = highlight.render

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(highlight, "render", spy)
    return seen


@pytest.mark.gen_test
async def test_curl_data_binary_stores_the_body_as_a_text_file(fetch):
    # What `curl --data-binary @- host/` sends: curl's default form type, the paste as the body.
    response = await fetch("/", method="POST", body=PYTHON_SOURCE,
                           headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "curl/8.5.0",
                                    "Accept": "*/*"})
    assert response.code == 201, response.body
    short = response.body.decode().splitlines()[0]  # line 2 is the delete link
    assert short.startswith("http://127.0.0.1:") and "/s/" in short  # curl gets the short link
    preview = await fetch(path_of(short))
    card = body_of(await fetch(path_of(preview.headers["Location"]).replace("/p/", "/api/v1/files/"),
                               headers={"Accept": "application/json"}))
    assert card["type"] == "text" and card["size"] == len(PYTHON_SOURCE)
    assert (await fetch(path_of(card["url_i"]))).body == PYTHON_SOURCE


@pytest.mark.gen_test
async def test_raw_post_takes_a_filename_and_json(fetch):
    response = await fetch("/?filename=notes.md&private=1", method="POST", body=b"# Title\n\nSome *words*.\n",
                           headers={"Content-Type": "text/plain", "Accept": "application/json"})
    card = body_of(response)
    assert response.code == 201 and card["filename"] == "notes.md" and card["private"] is True
    assert card["delete_token"]


@pytest.mark.gen_test
async def test_the_preview_is_highlighted_with_line_anchors(fetch, renders):
    put = await fetch("/hello.py", method="PUT", body=PYTHON_SOURCE, headers={"Accept": "application/json"})
    card = body_of(put)
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    assert '<span class="code-language">Python · 6 lines</span>' in page
    assert '<span class="line" id="L4"><a class="ln" href="#L4" data-line="4"' in page
    assert '<span class="k">def</span>' in page and '<span class="nf">main</span>' in page
    assert "/static/js/lines.js" in page and "/static/highlight.css" in page
    assert 'id="copy-code"' in page and f'href="{card["url_i"]}">Raw</a>' in page
    assert renders and all(name.startswith("images") for name in renders)
    # Cached by sha256: the second view renders nothing.
    await fetch(path_of(card["url_p"]))
    assert len(renders) == 1


@pytest.mark.gen_test
async def test_the_language_is_guessed_when_the_name_says_nothing(fetch):
    body = b"#!/bin/sh\nset -e\necho \"hello $USER\"\n"
    card = body_of(await fetch("/", method="POST", body=body, headers={"Accept": "application/json"}))
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    assert '<span class="code-language">Bash' in page
    plain = body_of(await fetch("/", method="POST", body=b"just some words\nand more\n",
                                headers={"Accept": "application/json"}))
    assert '<span class="code-language">Text only' in (await fetch(path_of(plain["url_p"]))).body.decode()


@pytest.mark.gen_test
async def test_markup_in_a_paste_is_text_never_markup(fetch):
    body = b'<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n'
    card = body_of(await fetch("/x.html", method="PUT", body=body, headers={"Accept": "application/json"}))
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;" in page and "alert" in page


@pytest.mark.parametrize("settings_overrides", [{"highlight_max_bytes": 4096}])
@pytest.mark.gen_test
async def test_a_big_file_shows_a_bounded_head_and_links_the_rest(fetch):
    body = b"".join(b"line number %d of a long log\n" % n for n in range(5000))
    card = body_of(await fetch("/big.log", method="PUT", body=body, headers={"Accept": "application/json"}))
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    assert 'id="L100"' in page and 'id="L1000"' not in page
    assert "Showing the first" in page and f'<a href="{card["url_i"]}">View the whole file</a>' in page
    assert 'id="copy-code"' not in page  # copying a part would mislead


def test_at_most_max_lines_are_rendered():
    body = b"x\n" * (highlight.MAX_LINES + 10)
    shown = highlight.render(body, "a.txt", "text/plain", more_after=False)
    assert shown.lines == highlight.MAX_LINES and shown.truncated
    assert f'id="L{highlight.MAX_LINES}"' in shown.html and f'id="L{highlight.MAX_LINES + 1}"' not in shown.html


def test_a_cut_multibyte_character_and_a_cut_line_are_dropped():
    shown = highlight.render("été\nsecond line that is cu".encode()[:-1] + "é".encode()[:1], "a.txt", "text/plain",
                             more_after=True)
    assert shown.lines == 1 and "été" in shown.html and "second" not in shown.html


def test_the_cache_is_bounded_in_bytes():
    cache = highlight.HighlightCache(max_bytes=3000)
    for n in range(10):
        cache.put((f"{n}", "a"), highlight.Highlighted("x" * 800, "Text", 1, False))
    assert cache.bytes <= 3000 and len(cache) == 3
    assert cache.get(("9", "a")) is not None and cache.get(("0", "a")) is None
    cache.put(("huge", "a"), highlight.Highlighted("x" * 5000, "Text", 1, False))
    assert cache.get(("huge", "a")) is None


@pytest.mark.gen_test
async def test_a_busy_executor_shows_the_text_uncoloured(fetch, services, monkeypatch):
    from tornado_paste.images.executor import ExecutorSaturated

    async def full(*_args, **_kwargs):
        raise ExecutorSaturated()

    monkeypatch.setattr(services.previews.text.executor, "run", full)
    card = body_of(await fetch("/busy.py", method="PUT", body=PYTHON_SOURCE, headers={"Accept": "application/json"}))
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    assert '<span class="line" id="L6">' in page and '<span class="k">' not in page
    assert "Text only" in page


def test_highlight_css_is_generated_from_the_script():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "highlight_css.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
