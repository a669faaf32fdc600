// The upload page: drop/choose files (or paste, then confirm), upload them concurrently with real
// progress, turn each into a card with its links, and keep a live feed of recent public uploads.
import { announce, apiJSON, collectionTokens, el, enableCopyButtons, relativeTime } from "./common.js";
import { feedItem, urlText } from "./cards.js";
import { EventFeed } from "./feed.js";
import { PasteConfirmations, pastedFiles } from "./paste.js";
import { UploadQueue } from "./queue.js";
import { UnfinishedUploads } from "./unfinished.js";

const form = document.getElementById("upload-form");
const input = document.getElementById("file");
const dropzone = document.getElementById("dropzone");
const list = document.getElementById("uploads");
const expiresSelect = document.getElementById("opt-expires");
const config = {
  maxSize: Number(form.dataset.maxUploadSize) || Infinity,
  tusMinSize: Number(form.dataset.tusMinSize) || Infinity,
  concurrency: Math.max(1, Number(form.dataset.concurrency) || 3),
};

document.documentElement.classList.add("js");
input.multiple = true;
input.required = false;
input.tabIndex = -1;
dropzone.tabIndex = 0;
dropzone.setAttribute("role", "button");
// The accessible name is the visible text ("Drop files anywhere, paste, or choose files", and the
// limit under it), so what speech users say to click it matches what sighted users read.
dropzone.setAttribute("aria-labelledby", "dz-title dz-hint");
enableCopyButtons();

function options() {
  const data = new FormData(form);
  return {
    private: data.get("private") === "1",
    w: String(data.get("w") || "").trim(),
    h: String(data.get("h") || "").trim(),
    expires: String(data.get("expires") || ""),
    maxDownloads: String(data.get("max_downloads") || "").trim(),
    burn: data.get("burn") === "1",
    password: String(data.get("password") || ""),
    collection: data.get("collection") === "1",
  };
}

const unfinished = new UnfinishedUploads({
  section: document.getElementById("unfinished"),
  choose: () => input.click(),
});

const queue = new UploadQueue({
  list,
  summary: document.getElementById("batch"),
  config,
  onUploaded(card) {
    if (!card.private) addToFeed(card.original || card, true);
  },
  onResumable: (file) => unfinished.resuming(file),
});

// A multi-file drop becomes one collection (unless the box is unticked): created first, then each
// file is uploaded into it with the collection's manage token, which this browser keeps.
function startCollection(count, opts, banner) {
  const body = { title: `${count} files`, private: opts.private };
  if (opts.expires) body.expires = opts.expires;
  if (opts.password) body.password = opts.password;
  return apiJSON("POST", "/api/v1/collections", body).then((coll) => {
    collectionTokens.set(coll.code, coll.manage_token);
    banner.dataset.code = coll.code;
    banner.replaceChildren(
      el("strong", {}, "Collection: ",
        el("a", { href: coll.url, className: "collection-link link-text" }, urlText(coll.url))),
      el("span", { className: "item-meta" },
        el("a", { href: coll.url_manage, className: "collection-manage" }, "Manage"), " · ",
        el("button", { type: "button", className: "btn small copy", dataset: { copy: coll.url_s },
          "aria-label": "Copy link of the collection" }, "Copy link")));
    announce("Collection created");
    return coll;
  }, (error) => {
    banner.replaceChildren(el("span", { className: "error-text", role: "alert" },
      `Could not create the collection: ${error.message}; uploading the files one by one.`));
    return null;
  });
}

function enqueue(files) {
  const opts = options();
  let together = null;
  if (opts.collection && files.length > 1) {
    // Above the list of uploads (the queue orders its items by state).
    const banner = el("div", { className: "collection-banner" },
      el("strong", {}, `Collection of ${files.length} files`), el("span", { className: "item-meta" }, "creating…"));
    list.before(banner);
    together = startCollection(files.length, opts, banner);
  }
  queue.add(files, opts, together);
}

const pastes = new PasteConfirmations({
  list,
  form,
  options,
  expiryLabel: () => expiresSelect.selectedOptions[0]?.textContent.trim() || "the default time",
  upload: enqueue,
});

// Leaving or reloading while files are on their way loses them: ask first.
window.addEventListener("beforeunload", (event) => {
  if (!queue.busy) return;
  event.preventDefault();
  event.returnValue = ""; // older browsers want a value; the text shown is the browser's own
});

// -- the three ways in: choose, drop, paste (paste asks first) ---------------------------------
form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (input.files.length) enqueue([...input.files]);
  input.value = "";
});
input.addEventListener("change", () => {
  enqueue([...input.files]);
  input.value = "";
});
dropzone.addEventListener("click", (event) => {
  if (event.target !== input) input.click();
});
dropzone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    input.click();
  }
});

const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
let dragDepth = 0;
window.addEventListener("dragenter", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dragDepth += 1;
  document.body.classList.add("dragging");
});
window.addEventListener("dragover", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
});
window.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) document.body.classList.remove("dragging");
});
window.addEventListener("drop", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  document.body.classList.remove("dragging");
  enqueue([...event.dataTransfer.files]);
});

document.addEventListener("paste", (event) => {
  const files = pastedFiles(event);
  if (!files.length) return;
  event.preventDefault();
  pastes.offer(files);
});

unfinished.load();

// -- the live feed ------------------------------------------------------------------------------
// Not a live region: strangers' uploads are not read aloud; this tab's own events are announced
// where they happen (queue, cards, deletes).
const feed = document.getElementById("feed");
const feedEmpty = document.getElementById("feed-empty");
const feedState = document.getElementById("feed-state");
const FEED_SIZE = 30;
const STATE_TEXT = { connecting: "connecting", live: "live", polling: "live (polling)", offline: "offline" };

function listed(card) {
  return card && !card.private && card.variant === undefined; // originals only, not resized copies
}

function syncEmpty() {
  feedEmpty.hidden = feed.children.length > 0;
}

function addToFeed(card, atTop) {
  if (!listed(card)) return;
  const item = feedItem(card);
  const existing = feed.querySelector(`[data-filehash="${CSS.escape(card.filehash)}"]`);
  if (existing) {
    // The feed's event can beat the upload's own answer; redraw it now that the token is known.
    existing.replaceWith(item);
    return;
  }
  if (atTop) feed.prepend(item);
  else feed.append(item);
  while (feed.children.length > FEED_SIZE) feed.lastElementChild.remove();
  syncEmpty();
}

function removeFromFeed(filehash) {
  const item = feed.querySelector(`[data-filehash="${CSS.escape(filehash)}"]`);
  if (item) item.remove();
  syncEmpty();
}

const events = new EventFeed({
  onEvent(event) {
    if (event.type === "file.created") addToFeed(event.file, true);
    else if (event.type === "file.deleted" && event.file) removeFromFeed(event.file.filehash);
  },
  onState(state) {
    feedState.dataset.state = state;
    feedState.textContent = STATE_TEXT[state] || state;
  },
});
events.start();

async function loadRecent() {
  try {
    const response = await fetch(`/api/v1/files?limit=${FEED_SIZE}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    for (const card of body.files || []) addToFeed(card, false);
  } catch { /* the feed stays empty; uploads still work */ }
  syncEmpty();
}
loadRecent();

// Keep "3 min ago" honest while the page stays open.
setInterval(() => {
  for (const node of feed.querySelectorAll("time.ago")) node.textContent = relativeTime(node.dateTime);
}, 30000);
