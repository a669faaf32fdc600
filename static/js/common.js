// Helpers shared by the pages. User strings only ever reach the DOM through textContent,
// attributes set as properties, or input values — never innerHTML.

/** Build an element: el("a", {href, className}, child, "text", ...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 -> "1.5 KiB", the same binary units the server's cards use. */
export function humanSize(bytes) {
  let value = bytes;
  for (const unit of UNITS) {
    if (value < 1024 || unit === "TiB") return unit === "B" ? `${Math.round(value)} B` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${bytes} B`;
}

export function humanSpeed(bytesPerSecond) {
  return `${humanSize(Math.max(0, bytesPerSecond))}/s`;
}

/** "3 min ago"-style text for recent moments, the local date for older ones. */
export function relativeTime(iso) {
  const then = new Date(iso);
  const seconds = Math.round((Date.now() - then.getTime()) / 1000);
  if (Number.isNaN(seconds)) return "";
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return then.toLocaleDateString();
}

/** Show every <time class="local-time"> in the viewer's own time zone and locale. */
export function localizeTimes(root = document) {
  for (const node of root.querySelectorAll("time.local-time")) {
    const moment = new Date(node.dateTime);
    if (Number.isNaN(moment.getTime())) continue;
    node.textContent = moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    node.title = moment.toISOString();
  }
}

// -- delete tokens -----------------------------------------------------------------------------
// The browser that uploaded a file is the one that may delete it: its tokens live in localStorage.
const TOKENS_KEY = "tornado-paste.delete-tokens";

function readTokens() {
  try {
    const parsed = JSON.parse(localStorage.getItem(TOKENS_KEY) || "{}");
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

export const tokens = {
  get(filehash) {
    return readTokens()[filehash] || null;
  },
  set(filehash, token) {
    const all = readTokens();
    all[filehash] = token;
    try { localStorage.setItem(TOKENS_KEY, JSON.stringify(all)); } catch { /* storage full or disabled */ }
  },
  remove(filehash) {
    const all = readTokens();
    delete all[filehash];
    try { localStorage.setItem(TOKENS_KEY, JSON.stringify(all)); } catch { /* ignore */ }
  },
};

/** The API's JSON error message, or a fallback that says what happened. */
export function errorMessage(status, bodyText, fallback) {
  try {
    const body = JSON.parse(bodyText);
    if (body && body.error && body.error.message) return body.error.message;
  } catch { /* not JSON */ }
  if (status === 0) return fallback || "the connection failed";
  return fallback || `the server answered ${status}`;
}

// -- collection manage tokens ----------------------------------------------------------------------
const COLLECTIONS_KEY = "tornado-paste.collection-tokens";

function readCollections() {
  try {
    const parsed = JSON.parse(localStorage.getItem(COLLECTIONS_KEY) || "{}");
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

export const collectionTokens = {
  get(code) {
    return readCollections()[code] || null;
  },
  set(code, token) {
    const all = readCollections();
    all[code] = token;
    try { localStorage.setItem(COLLECTIONS_KEY, JSON.stringify(all)); } catch { /* storage full or disabled */ }
  },
  remove(code) {
    const all = readCollections();
    delete all[code];
    try { localStorage.setItem(COLLECTIONS_KEY, JSON.stringify(all)); } catch { /* ignore */ }
  },
};

/** JSON to the API; resolves the decoded body, or throws an Error with the API's message. */
export async function apiJSON(method, url, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) {
    const error = new Error(errorMessage(response.status, text));
    error.status = response.status;
    throw error;
  }
  return text ? JSON.parse(text) : null;
}

/** The token a manage page was opened with: the URL's fragment, which never reaches the server. */
export function fragmentToken() {
  const raw = location.hash.replace(/^#/, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** DELETE the file with its token; resolves true, or throws an Error with the API's message. */
export async function deleteFile(filehash, token) {
  const response = await fetch(`/api/v1/files/${encodeURIComponent(filehash)}`, {
    method: "DELETE",
    headers: { "X-Delete-Token": token, Accept: "application/json" },
  });
  if (!response.ok) {
    throw new Error(errorMessage(response.status, await response.text(), "could not delete the file"));
  }
  tokens.remove(filehash);
  return true;
}

// -- clipboard ---------------------------------------------------------------------------------
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { /* permission refused: fall back below */ }
  }
  // Older browsers and plain-http origins: select a scratch textarea and copy.
  const area = el("textarea", { value: text, readOnly: true, className: "clipboard-scratch" });
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  return ok;
}

/** One listener for every copy button: data-copy (the text) or data-copy-from (an input's id). */
export function enableCopyButtons(root = document) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy], button[data-copy-from]");
    if (!button) return;
    const source = button.dataset.copyFrom ? document.getElementById(button.dataset.copyFrom) : null;
    const text = source ? source.value : button.dataset.copy;
    if (text === undefined) return;
    const ok = await copyText(text);
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied!" : "Press Ctrl+C";
    button.classList.toggle("copied", ok);
    if (!ok && source) source.select();
    announce(ok ? "Copied to the clipboard" : "Could not copy; the text is selected");
    clearTimeout(button._restore);
    button._restore = setTimeout(() => {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1600);
  });
}

/** Tell screen readers about something that happened away from their focus. */
export function announce(message) {
  const region = document.getElementById("live-status");
  if (region) region.textContent = message;
}

/** Icon letters for a file type, used where there is no thumbnail. */
export function typeLabel(card) {
  const labels = { image: "IMG", video: "VID", audio: "AUD", pdf: "PDF", text: "TXT" };
  return labels[card.type] || (card.filename.split(".").pop() || "FILE").slice(0, 4).toUpperCase();
}

/** A thumbnail through the resizer, falling back to the raw image when /r/ is not there. */
export function thumbnail(card, size = 96) {
  // A password or a download limit guards the bytes: a thumbnail or poster would be refused, or use up a download.
  const guarded = card.password || (card.max_downloads !== null && card.max_downloads !== undefined);
  if (card.type !== "image" && card.url_t && !guarded) {
    // A video's poster, a PDF's first page, an album's cover (made on first request, then cached).
    const poster = el("img", { className: "thumb thumb-poster", alt: "", loading: "lazy", decoding: "async",
      width: size, height: size, src: `/t/${encodeURIComponent(card.filehash)}` });
    poster.addEventListener("error", () => poster.replaceWith(
      el("div", { className: `thumb thumb-icon type-${card.type}`, "aria-hidden": "true" }, typeLabel(card))));
    return poster;
  }
  if (card.type !== "image" || guarded) {
    return el("div", { className: `thumb thumb-icon type-${card.type}`, "aria-hidden": "true" }, typeLabel(card));
  }
  const scale = Math.min(2, Math.ceil(window.devicePixelRatio || 1));
  const img = el("img", {
    className: "thumb",
    alt: "",
    loading: "lazy",
    decoding: "async",
    width: size,
    height: size,
    src: `/r/${encodeURIComponent(card.filehash)}?w=${size * scale}&h=${size * scale}`,
  });
  img.addEventListener("error", () => {
    // No resizer (or it refused): small images can be shown as they are, big ones get the icon.
    if (!img.dataset.fallback && card.size <= 2 * 1024 * 1024 && card.mimetype !== "image/svg+xml") {
      img.dataset.fallback = "raw";
      img.src = `/i/${encodeURIComponent(card.filehash)}`;
    } else {
      img.replaceWith(el("div", { className: "thumb thumb-icon type-image", "aria-hidden": "true" }, "IMG"));
    }
  }, { once: false });
  return img;
}
