"""The upload page does nothing behind the user's back, in a real Chromium against a real run.py:
a paste waits for a yes, an existing copy says why it has no Delete button, leaving mid-upload asks
first, an unfinished resumable upload is offered after a reload, the speed is smoothed, the queue
shows what runs first with a batch summary, delete errors are shown, and only one's own events are
read aloud."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.uikit import api_get, api_upload, b64, card_of, done_card, file_payload, png_bytes, throttle

pytestmark = pytest.mark.system

TUS_KEY_PREFIX = "tornado-paste:tus:"


@pytest.fixture(scope="module")
def ui_server_env() -> dict[str, str]:
    # Files of 256 KiB and more take the resumable (tus) path.
    return {"TORNADO_PASTE_UI_TUS_MIN_SIZE": "256k"}


def total_files(server) -> int:
    return api_get(server, "/api/v1/files?limit=1")[1]["total"]


# -- paste ----------------------------------------------------------------------------------------
def test_paste_waits_for_a_yes_and_honours_the_options(page, ui_server):
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.method) if r.method in ("POST", "PUT", "PATCH") else None)
    page.goto("/")
    before = total_files(ui_server)
    # The case: a password on the clipboard, Ctrl+V with the focus on the "Keep for" select.
    page.evaluate("navigator.clipboard.writeText('hunter2-is-my-password')")
    page.locator("#opt-expires").focus()
    page.keyboard.press("Control+v")
    pending = page.locator("#uploads .item.pending")
    pending.wait_for()
    assert pending.locator(".pending-question").inner_text() == "Upload pasted text?"
    # The excerpt is read from the pasted file asynchronously: wait for it, as a person would.
    expect(pending.locator(".paste-excerpt")).to_contain_text("hunter2-is-my-password")
    assert "Public" in pending.locator(".pending-sharing").inner_text()
    page.wait_for_timeout(1000)
    assert sent == [] and total_files(ui_server) == before  # nothing left the browser
    # The options at the moment of the yes are the ones used; the pending item says so as they change.
    page.check("#opt-private")
    page.select_option("#opt-expires", "1h")
    assert "Unlisted" in pending.locator(".pending-sharing").inner_text()
    assert "1 hour" in pending.locator(".pending-sharing").inner_text()
    pending.get_by_role("button", name="Upload").click()
    card = page.locator("#uploads .item.done").first
    card.wait_for()
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    assert api["private"] is True and api["expires_at"] is not None
    assert api["mimetype"] == "text/plain" and api["size"] == len("hunter2-is-my-password")
    assert re.fullmatch(r"pasted-[\d-]+\.txt", api["filename"])
    # Discard sends nothing.
    sent.clear()
    page.evaluate("navigator.clipboard.writeText('never mind')")
    page.locator("body").press("Control+v")
    pending.wait_for()
    pending.get_by_role("button", name="Discard").click()
    assert pending.count() == 0
    page.wait_for_timeout(500)
    assert sent == []


def test_pasted_image_waits_too(page, ui_server):
    page.goto("/")
    page.evaluate("""async (data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        await navigator.clipboard.write([new ClipboardItem({"image/png": new Blob([bytes], {type: "image/png"})})]);
    }""", b64(png_bytes(40, 30)))
    page.locator("body").press("Control+v")
    pending = page.locator("#uploads .item.pending")
    pending.wait_for()
    assert pending.locator(".pending-question").inner_text() == "Upload pasted image?"
    # The Upload button has the focus: a second, deliberate Enter sends it.
    assert page.evaluate("document.activeElement.textContent") == "Upload"
    page.keyboard.press("Enter")
    card = page.locator("#uploads .item.done").first
    card.wait_for()
    assert card_of(ui_server, card.get_attribute("data-filehash"))["mimetype"] == "image/png"


# -- an existing copy -----------------------------------------------------------------------------
def test_existing_bytes_say_why_there_is_no_delete_button(page, ui_server):
    data = os.urandom(512)
    first = api_upload(ui_server, "someone-elses.bin", data)  # another client's upload: we hold no token
    page.goto("/")
    page.set_input_files("#file", file_payload("mine.bin", data))
    card = done_card(page, "someone-elses.bin")
    note = card.locator(".item-note").inner_text()
    assert "Already uploaded — this is the existing public copy" in note
    assert "no Delete button" in note and "delete token" in note
    assert card.get_by_role("button", name=re.compile("^Delete")).count() == 0
    assert card.get_attribute("data-filehash") == first["filehash"]
    # Unlisted asked for, same bytes: either the server gives a private record of its own (201, with
    # Delete), or the card says plainly that the public copy is what there is.
    page.check("#opt-private")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.set_input_files("#file", file_payload("mine-again.bin", data))
    page.wait_for_function("() => document.querySelectorAll('#uploads .item.done').length === 2")
    second = page.locator("#uploads .item.done").first
    if answer.value.status == 200:
        assert "You asked for Unlisted" in second.locator(".item-note").inner_text()
    else:
        assert second.locator(".tag", has_text="unlisted").count() == 1
        assert second.get_by_role("button", name=re.compile("^Delete")).count() == 1


# -- leaving, reloading, resuming -----------------------------------------------------------------
def test_leaving_during_an_upload_asks_first(context, ui_server):
    page = context.new_page()  # without the fixture's dialog handler: this test answers the dialog itself
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.locator("h1").click()  # a real user gesture: browsers only ask pages someone interacted with
    throttle(page, 32 * 1024)
    page.set_input_files("#file", file_payload("slow.bin", os.urandom(200 * 1024)))
    page.locator("#uploads .item.uploading").wait_for()
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()  # stay
    assert not page.is_closed()
    page.get_by_role("button", name="Cancel slow.bin").click()
    # Nothing running: leaving is silent.
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
    with page.expect_event("close"):
        page.close(run_before_unload=True)
    assert dialogs == [] and errors == []


def leave_unfinished(page, path) -> str:
    """Start a throttled resumable upload of ``path``, let part of it reach the server, reload."""
    page.goto("/")
    cdp = throttle(page, 96 * 1024)
    page.set_input_files("#file", str(path))
    page.wait_for_function(f"() => Object.keys(localStorage).some((k) => k.startsWith('{TUS_KEY_PREFIX}'))")
    page.wait_for_function("() => document.querySelector('#uploads .item.uploading progress')?.value > 150000")
    url = page.evaluate(
        f"() => localStorage.getItem(Object.keys(localStorage).find((k) => k.startsWith('{TUS_KEY_PREFIX}')))")
    page.reload()
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    return url


def test_unfinished_resumable_upload_is_offered_after_reload_and_resumes(page, ui_server, tmp_path):
    big = tmp_path / "big70.bin"
    big.write_bytes(os.urandom(700 * 1024))
    url = leave_unfinished(page, big)
    note = page.locator("#unfinished .unfinished-item")
    note.wait_for()
    # What the server holds when the page left (on a busy machine possibly nothing yet: "0 B").
    assert re.fullmatch(r"unfinished: big70\.bin \((?:[\d.]+ KiB|\d+ B) of 700\.0 KiB\) — choose it again to resume",
                        note.locator(".unfinished-text").inner_text()), note.inner_text()
    assert note.get_by_role("button", name="Discard the unfinished upload of big70.bin").is_visible()
    requests: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    page.set_input_files("#file", str(big))  # the same file again (same name, size, mtime)
    card = done_card(page, "big70.bin")
    assert page.locator("#unfinished").is_hidden()
    assert ("POST", ui_server.url + "/api/v1/tus/") not in requests  # resumed, not started over
    assert ("PATCH", url) in requests
    assert card_of(ui_server, card.get_attribute("data-filehash"))["size"] == 700 * 1024
    assert page.evaluate(f"() => Object.keys(localStorage).filter((k) => k.startsWith('{TUS_KEY_PREFIX}'))") == []


def test_unfinished_upload_can_be_discarded(page, ui_server, tmp_path):
    big = tmp_path / "discard-me.bin"
    big.write_bytes(os.urandom(600 * 1024))
    url = leave_unfinished(page, big)
    note = page.locator("#unfinished .unfinished-item")
    note.wait_for()
    note.get_by_role("button", name="Discard the unfinished upload of discard-me.bin").click()
    page.locator("#unfinished").wait_for(state="hidden")
    assert page.evaluate(f"() => Object.keys(localStorage).filter((k) => k.startsWith('{TUS_KEY_PREFIX}'))") == []
    gone = page.request.head(url, headers={"Tus-Resumable": "1.0.0"})
    assert gone.status in (404, 410)
    # And it stays gone after another reload.
    page.reload()
    page.wait_for_timeout(500)
    assert page.locator("#unfinished .unfinished-item").count() == 0


# -- speed ----------------------------------------------------------------------------------------
def test_speed_meter_ignores_the_start_burst_and_resets(page):
    page.goto("/")
    readings = page.evaluate("""async () => {
        const { SpeedMeter } = await import("/static/js/speed.js");
        const meter = new SpeedMeter();
        const MiB = 1024 * 1024, out = [];
        // Resume: 3 MiB "sent" within 60 ms (the socket buffer filling), then a steady 2.8 MiB/s.
        let t = 1000, bytes = 0;
        out.push(["first", meter.sample(bytes, t)]);
        for (let i = 0; i < 3; i += 1) { t += 20; bytes += MiB; out.push(["burst", meter.sample(bytes, t)]); }
        for (let i = 0; i < 120; i += 1) { t += 50; bytes += 2.8 * MiB * 0.05; out.push([t, meter.sample(bytes, t)]); }
        // Pause, then Resume at 1 MiB/s: the reset forgets the old average.
        meter.reset();
        const resumed = [];
        for (let i = 0; i < 60; i += 1) { t += 50; bytes += 1 * MiB * 0.05; resumed.push(meter.sample(bytes, t)); }
        return { out, resumed, MiB };
    }""")
    mib = readings["MiB"]
    assert all(value is None for label, value in readings["out"][:4])  # measuring during the burst
    shown = [value for _, value in readings["out"] if value is not None]
    assert shown, readings
    assert max(shown) < 2.8 * mib * 1.15, max(shown) / mib  # never the 10 MiB/s the burst would give
    assert abs(shown[-1] - 2.8 * mib) < 0.05 * 2.8 * mib
    resumed = [value for value in readings["resumed"] if value is not None]
    assert resumed and readings["resumed"][0] is None
    assert all(abs(value - mib) < 0.1 * mib for value in resumed), [v / mib for v in resumed]


def test_speed_after_resume_is_the_lines_speed(page, ui_server):
    page.goto("/")
    line = 192 * 1024
    throttle(page, line)
    page.set_input_files("#file", file_payload("resume-speed.bin", os.urandom(3 << 20)))
    item = page.locator("#uploads .item.uploading")
    page.wait_for_function("() => document.querySelector('#uploads .item.uploading progress')?.value > 300000")
    item.get_by_role("button", name="Pause resume-speed.bin").click()
    page.wait_for_timeout(1500)
    item.get_by_role("button", name="Resume resume-speed.bin").click()
    texts = [page.locator("#uploads .item.uploading .item-stats").inner_text()]
    for _ in range(40):
        page.wait_for_timeout(100)
        texts.append(page.locator("#uploads .item.uploading .item-stats").inner_text())
    speeds = []
    for text in texts:
        found = re.search(r"([\d.]+) (B|KiB|MiB)/s", text)
        if found:
            speeds.append(float(found.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1 << 20}[found.group(2)])
    assert any("measuring" in text or "starting" in text for text in texts[:5]), texts
    assert speeds, texts
    assert max(speeds) < 1.6 * line, (max(speeds) / line, texts)
    item.get_by_role("button", name="Cancel resume-speed.bin").click()


# -- the queue ------------------------------------------------------------------------------------
def test_queue_shows_running_first_then_waiting_with_a_batch_summary(page, ui_server):
    page.goto("/")
    cdp = throttle(page, 48 * 1024)
    files = [file_payload(f"queued-{i}.bin", os.urandom(100 * 1024)) for i in range(5)]
    page.set_input_files("#file", files)
    page.wait_for_function("() => document.querySelectorAll('#uploads .item.uploading').length === 3")
    classes = page.eval_on_selector_all("#uploads > li", "items => items.map((li) => li.className)")
    assert ["uploading" in c for c in classes] == [True, True, True, False, False], classes
    assert ["queued" in c for c in classes] == [False, False, False, True, True], classes
    summary = page.locator("#batch .batch-text")
    assert re.fullmatch(r"0 of 5 uploaded · 3 uploading · 2 waiting · \d+% of 500\.0 KiB", summary.inner_text())
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    page.wait_for_function("() => document.querySelector('#batch .batch-text').textContent.startsWith('5 of 5')")
    assert summary.inner_text() == "5 of 5 uploaded · 100% of 500.0 KiB"
    assert page.locator("#batch progress").evaluate("(bar) => bar.value === bar.max")
    assert page.locator("#uploads .item.done").count() == 5


# -- delete ---------------------------------------------------------------------------------------
def test_failed_delete_is_shown_and_focus_moves_on_after_a_delete(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", [file_payload("keep-a.txt", os.urandom(16).hex().encode(), "text/plain"),
                                   file_payload("keep-b.txt", os.urandom(16).hex().encode(), "text/plain")])
    first = page.locator("#uploads .item.done").nth(0)
    page.wait_for_function("() => document.querySelectorAll('#uploads .item.done').length === 2")
    name = first.locator("a.item-name").inner_text()
    other = page.locator("#uploads .item.done").nth(1).locator("a.item-name").inner_text()

    def refuse(route):
        if route.request.method == "DELETE":
            route.fulfill(status=503, content_type="application/json",
                          body='{"error": {"code": "unavailable", "message": "the store is briefly unavailable"}}')
        else:
            route.continue_()

    page.route("**/api/v1/files/*", refuse)
    first.get_by_role("button", name=f"Delete {name}").click()
    alert = first.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == f"Could not delete {name}: the store is briefly unavailable"
    assert alert.is_visible()
    page.unroute("**/api/v1/files/*")
    first.get_by_role("button", name=f"Retry deleting {name}").click()
    page.get_by_text(f"Deleted {name}.").wait_for()
    focused = page.evaluate(
        "() => [document.activeElement.textContent, document.activeElement.closest('li')?.textContent]")
    assert other in focused[1], focused
    assert page.locator("#live-status").inner_text() == f"Deleted {name}"


# -- live regions ---------------------------------------------------------------------------------
def test_only_ones_own_events_are_read_aloud(page, ui_server):
    page.goto("/")
    assert page.locator("#feed").get_attribute("aria-live") is None
    assert page.locator("#feed [aria-live], #feed[role=log], #feed[role=status]").count() == 0
    page.wait_for_function("() => document.getElementById('feed-state').dataset.state === 'live'")
    page.evaluate("document.getElementById('live-status').textContent = ''")
    stranger = api_upload(ui_server, "strangers-upload.txt", os.urandom(8).hex().encode())
    page.locator("#feed .feed-item", has_text=stranger["filename"]).wait_for()
    assert page.locator("#live-status").inner_text() == ""
    page.set_input_files("#file", file_payload("my-own.txt", os.urandom(8).hex().encode(), "text/plain"))
    done_card(page, "my-own.txt")
    assert page.locator("#live-status").inner_text() == "my-own.txt uploaded"
