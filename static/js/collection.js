// A collection's page: its files as a gallery, kept live over the event feed (collection.updated),
// the zip download, and a manage link when this browser created the collection.
import { apiJSON, collectionTokens, el, enableCopyButtons, humanSize, localizeTimes, thumbnail } from "./common.js";
import { EventFeed } from "./feed.js";

const page = document.getElementById("collection-page");
const code = page.dataset.code;
const list = document.getElementById("collection-files");
const empty = document.getElementById("collection-empty");
const summary = document.getElementById("collection-summary");
const zipLink = document.getElementById("zip-link");
const zipSize = document.getElementById("zip-size");
const notice = document.getElementById("collection-notice");

document.documentElement.classList.add("js");
localizeTimes();
enableCopyButtons();

const token = collectionTokens.get(code);
if (token) {
  const manage = document.getElementById("manage-link");
  manage.href = `/m/c/${encodeURIComponent(code)}#${encodeURIComponent(token)}`;
  manage.hidden = false;
}

export function galleryItem(card) {
  const notes = [card.size_human];
  if (card.password) notes.push("password");
  if (card.max_downloads !== null && card.max_downloads !== undefined) notes.push("limited");
  return el("li", { className: "gallery-item", dataset: { filehash: card.filehash } },
    el("a", { href: card.url_p, className: "gallery-thumb", tabIndex: -1, "aria-hidden": "true" }, thumbnail(card, 160)),
    el("a", { href: card.url_p, className: "gallery-name" }, card.filename),
    el("span", { className: "gallery-meta" }, notes.join(" · ")));
}

function render(card) {
  list.replaceChildren(...card.files.map(galleryItem));
  empty.hidden = card.files.length > 0;
  summary.textContent = `${card.count} file${card.count === 1 ? "" : "s"} · ${card.total_size_human}`;
  zipLink.hidden = !card.zip_size;
  if (card.zip_size) zipSize.textContent = `(zip, ${humanSize(card.zip_size)})`;
  page.dataset.count = String(card.count);
}

let pending = null;
async function refresh() {
  if (pending) return pending;
  pending = (async () => {
    try {
      render(await apiJSON("GET", page.dataset.urlApi));
    } catch (error) {
      if (error.status === 404 || error.status === 410) gone();
    } finally {
      pending = null;
    }
  })();
  return pending;
}

function gone() {
  notice.textContent = "This collection has been deleted or has expired.";
  notice.hidden = false;
  zipLink.hidden = true;
  page.classList.add("deleted");
}

new EventFeed({
  collection: code,
  onEvent(event) {
    if (event.type !== "collection.updated") return;
    if (event.action === "deleted") gone();
    else refresh();
  },
  onState(state) {
    page.dataset.feed = state;
    if (state === "live") refresh(); // catch up on anything that happened before the socket opened
  },
}).start();
