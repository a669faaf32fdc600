// A collection's manage page: its files (arrivals appear live over the event feed, filtered by the
// collection), the upload link's limits and use, settings, remove and delete. The token comes from
// the URL's fragment and goes to the API in X-Manage-Token.
import { announce, apiJSON, collectionTokens, el, fragmentToken, humanSize, thumbnail } from "./common.js";
import { EventFeed } from "./feed.js";

const page = document.getElementById("manage-collection");
const code = page.dataset.code;
const api = page.dataset.urlApi;
const status = document.getElementById("manage-status");
const form = document.getElementById("mc-form");
const files = document.getElementById("mc-files");
const field = (id) => document.getElementById(id);
const token = fragmentToken();
const headers = { "X-Manage-Token": token };
let current = null;
let known = null; // filehashes already shown: new ones are marked as arrivals

document.documentElement.classList.add("js");

function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
  status.hidden = false;
  announce(text);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "never";
}

function fileItem(card) {
  const remove = el("button", { type: "button", className: "btn small danger", "aria-label": `Remove ${card.filename}` },
    "Remove");
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Take “${card.filename}” out of the collection?`)) return;
    try {
      render(await apiJSON("DELETE", `${api}/files/${encodeURIComponent(card.filehash)}`, undefined, headers));
    } catch (error) {
      say(`Could not remove: ${error.message}`, "error");
    }
  });
  const fresh = known !== null && !known.has(card.filehash);
  return el("li", { className: `item done${fresh ? " arrived" : ""}`, dataset: { filehash: card.filehash } },
    el("a", { href: card.url_p, className: "thumb-link", tabIndex: -1, "aria-hidden": "true" }, thumbnail(card, 64)),
    el("div", { className: "item-body" },
      el("div", { className: "item-head" },
        el("a", { href: card.url_p, className: "item-name" }, card.filename),
        fresh ? el("span", { className: "tag" }, "new") : null),
      el("p", { className: "item-meta" }, `${card.size_human} · ${card.mimetype}`),
      el("div", { className: "copy-buttons" }, remove)));
}

function render(card) {
  current = card;
  field("mc-title").textContent = card.title || "Collection";
  field("mc-summary").textContent = `${card.count} file${card.count === 1 ? "" : "s"} · ${card.total_size_human}`;
  files.replaceChildren(...card.files.map(fileItem));
  field("mc-empty").hidden = card.files.length > 0;
  const arrived = card.files.filter((f) => known !== null && !known.has(f.filehash));
  if (arrived.length) announce(`${arrived.length} new file${arrived.length > 1 ? "s" : ""} arrived`);
  known = new Set(card.files.map((f) => f.filehash));
  field("mc-title-input").value = card.title;
  field("mc-private").checked = card.private;
  field("mc-expires-now").textContent = when(card.expires_at);
  field("mc-max-downloads").value = card.max_downloads === null ? "" : String(card.max_downloads);
  const request = card.request;
  field("mc-request").hidden = !request;
  if (request) {
    field("mc-request-state").textContent = request.open ? "Open: people with the upload link can add files." : "Closed.";
    const limits = [
      `${request.used_files}${request.max_files ? ` of ${request.max_files}` : ""} files`,
      `${humanSize(request.used_bytes)}${request.max_bytes ? ` of ${humanSize(request.max_bytes)}` : ""}`,
    ];
    if (request.max_file_size) limits.push(`${humanSize(request.max_file_size)} per file`);
    if (request.allowed_types.length) limits.push(`only ${request.allowed_types.join(", ")}`);
    if (request.closes_at) limits.push(`closes ${when(request.closes_at)}`);
    field("mc-request-limits").textContent = limits.join(" · ");
    field("mc-request-close").hidden = !request.open;
  }
}

async function refresh() {
  try {
    render(await apiJSON("GET", api, undefined, headers));
  } catch (error) {
    if (error.status === 404 || error.status === 410) {
      form.hidden = true;
      say("This collection has been deleted or has expired.", "error");
    }
  }
}

async function start() {
  if (!token) {
    say("This manage link has no token after the #. Use the full link you got when you created it.", "error");
    return;
  }
  try {
    render(await apiJSON("GET", api, undefined, headers));
  } catch (error) {
    say(error.status === 403 ? "This manage link's token does not match the collection." : error.message, "error");
    return;
  }
  collectionTokens.set(code, token);
  status.hidden = true;
  form.hidden = false;
  page.dataset.ready = "1";
  new EventFeed({
    collection: code,
    token,
    onEvent(event) {
      if (event.type === "collection.updated") refresh();
    },
    onState(state) {
      page.dataset.feed = state;
      const badge = field("mc-feed");
      badge.dataset.state = state;
      badge.textContent = state;
      if (state === "live") refresh();
    },
  }).start();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {};
  const title = field("mc-title-input").value.trim();
  if (title !== current.title) body.title = title;
  if (field("mc-private").checked !== current.private) body.private = field("mc-private").checked;
  if (field("mc-expires").value) body.expires = field("mc-expires").value;
  if (field("mc-password-clear").checked) body.password = null;
  else if (field("mc-password").value) body.password = field("mc-password").value;
  const limit = field("mc-max-downloads").value.trim();
  const wanted = limit === "" ? null : Number(limit);
  if (wanted !== current.max_downloads) body.max_downloads = wanted;
  try {
    render(await apiJSON("PATCH", api, body, headers));
    field("mc-password").value = "";
    field("mc-expires").value = "";
    say("Saved.", "ok");
  } catch (error) {
    say(`Not saved: ${error.message}`, "error");
  }
});

field("mc-request-close").addEventListener("click", async () => {
  try {
    render(await apiJSON("PATCH", api, { request_open: false }, headers));
    say("The upload link is closed.", "ok");
  } catch (error) {
    say(`Could not close it: ${error.message}`, "error");
  }
});

field("mc-delete").addEventListener("click", async () => {
  if (!window.confirm("Delete this collection (and the files uploaded into it)?")) return;
  try {
    await apiJSON("DELETE", api, undefined, headers);
  } catch (error) {
    say(`Could not delete: ${error.message}`, "error");
    return;
  }
  collectionTokens.remove(code);
  form.hidden = true;
  files.replaceChildren();
  say("Deleted.", "ok");
});

start();
