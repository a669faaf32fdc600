// The preview page: local times, copy buttons, delete with a remembered token, the resize form,
// and the file's own live events (new derivatives appear, a deletion is announced).
import { announce, el, enableCopyButtons, errorMessage, deleteFile, localizeTimes, tokens } from "./common.js";
import { EventFeed } from "./feed.js";

const page = document.getElementById("file-page");
const filehash = page.dataset.filehash;
const notice = document.getElementById("file-notice");

document.documentElement.classList.add("js");
localizeTimes();
enableCopyButtons();

function showNotice(text, kind = "info") {
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = false;
}

// -- delete -------------------------------------------------------------------------------------
const deleteButton = document.getElementById("delete-button");
if (tokens.get(filehash)) {
  deleteButton.hidden = false;
  deleteButton.addEventListener("click", async () => {
    const name = page.querySelector(".filename").textContent;
    if (!window.confirm(`Delete “${name}” for everyone?`)) return;
    deleteButton.disabled = true;
    try {
      await deleteFile(filehash, tokens.get(filehash));
      markDeleted();
    } catch (error) {
      deleteButton.disabled = false;
      showNotice(`Could not delete: ${error.message}`, "error");
    }
  });
}

function markDeleted() {
  page.classList.add("deleted");
  deleteButton.hidden = true;
  showNotice("This file has been deleted. Its links no longer work.", "error");
}

// -- derivatives (resized copies) ---------------------------------------------------------------
const derivatives = document.getElementById("derivatives");
const resizeForm = document.getElementById("resize-form");
const resizeError = document.getElementById("resize-error");

function derivativeEntry(key, { url, previewUrl, width, height }) {
  let item = derivatives.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const fieldId = `derived-${key.replace(/[^a-z0-9]/gi, "-")}`;
  const fresh = el("li", { className: "derivative", dataset: { key } },
    el("a", { href: previewUrl || url, className: "derivative-thumb", tabIndex: -1, "aria-hidden": "true" },
      el("img", { src: url, alt: "", loading: "lazy", className: "thumb" })),
    el("div", { className: "derivative-body" },
      el("a", { href: previewUrl || url, className: "derivative-name" }, `${width} × ${height}`),
      el("div", { className: "copy-row compact" },
        el("label", { htmlFor: fieldId, className: "visually-hidden" }, `Link to the ${width} × ${height} copy`),
        el("input", { id: fieldId, type: "text", readOnly: true, value: url }),
        el("button", { type: "button", className: "btn small copy", dataset: { copyFrom: fieldId } }, "Copy"))));
  if (item) item.replaceWith(fresh);
  else derivatives.prepend(fresh);
  item = fresh;
  return item;
}

if (resizeForm) {
  resizeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(resizeForm);
    const w = String(data.get("w")).trim();
    const h = String(data.get("h")).trim();
    const url = new URL(`/r/${encodeURIComponent(filehash)}`, location.href);
    url.search = new URLSearchParams({ w, h }).toString();
    resizeError.hidden = true;
    const button = resizeForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(url, { headers: { Accept: "image/*,application/json;q=0.5" } });
      if (!response.ok) throw new Error(errorMessage(response.status, await response.text(), "could not resize"));
      derivativeEntry(`${w}x${h}`, { url: url.href, width: w, height: h });
      announce(`Resized copy ${w} × ${h} is ready`);
    } catch (error) {
      resizeError.textContent = error.message;
      resizeError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

// -- this file's events -------------------------------------------------------------------------
new EventFeed({
  file: filehash,
  onEvent(event) {
    const card = event.file;
    if (!card) return;
    if (card.filehash === filehash && event.type === "file.deleted") {
      markDeleted();
    } else if (derivatives && card.filehash !== filehash && card.variant && event.type !== "file.deleted") {
      // This file's feed carries only its own events and its derivatives' (cards name no parent).
      const url = new URL(`/r/${encodeURIComponent(filehash)}`, location.href);
      url.search = new URLSearchParams({ w: card.width, h: card.height }).toString();
      derivativeEntry(`${card.width}x${card.height}`, {
        url: url.href, previewUrl: card.url_p, width: card.width, height: card.height,
      });
    }
  },
  onState(state) {
    page.dataset.feed = state; // for tests and styling: "live" once the socket is open
  },
}).start();
