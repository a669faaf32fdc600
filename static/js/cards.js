// DOM for a finished upload (the card) and for one line of the live feed.
import { announce, deleteFile, el, relativeTime, thumbnail, tokens } from "./common.js";

const COPIES = [
  ["Short", "short link", (card) => card.url_s],
  ["Raw", "raw link", (card) => card.url_i],
  ["Download", "download link", (card) => card.url_d],
  ["Markdown", "Markdown snippet", (card) => card.embed.markdown],
  ["HTML", "HTML snippet", (card) => card.embed.html],
  ["BBCode", "BBCode snippet", (card) => card.embed.bbcode],
];

export function describe(card) {
  const parts = [card.size_human, card.mimetype];
  if (card.width && card.height) parts.push(`${card.width} × ${card.height}`);
  return parts.join(" · ");
}

function expiry(card) {
  if (!card.expires_at) return null;
  const when = new Date(card.expires_at);
  if (Number.isNaN(when.getTime())) return null;
  return el("span", { className: "expires", title: when.toISOString() },
    ` · expires ${when.toLocaleDateString(undefined, { dateStyle: "medium" })}`);
}

/** Before an item goes (deleted, dismissed): focus the next (else previous) item's first control. */
export function focusNeighbour(item) {
  let next = item.nextElementSibling;
  while (next && next.classList.contains("deleted")) next = next.nextElementSibling;
  let previous = item.previousElementSibling;
  while (previous && previous.classList.contains("deleted")) previous = previous.previousElementSibling;
  const target = [next, previous].filter(Boolean).map((node) => node.querySelector("a[href], button")).find(Boolean);
  if (target) target.focus();
  else document.getElementById("dropzone")?.focus();
}

/**
 * A delete button for a file whose token this browser holds (or null). A refusal is shown next to
 * it (role=alert), not hidden in a tooltip; `onDeleted` runs after a successful delete.
 */
export function deleteButton(card, onDeleted, extraClass = "") {
  if (!tokens.get(card.filehash)) return null;
  const button = el("button", {
    type: "button",
    className: `btn danger small delete ${extraClass}`.trim(),
    "aria-label": `Delete ${card.filename}`,
  }, "Delete");
  let problem = null;
  button.addEventListener("click", async () => {
    if (!window.confirm(`Delete “${card.filename}” for everyone?`)) return;
    button.disabled = true;
    try {
      await deleteFile(card.filehash, tokens.get(card.filehash));
      announce(`Deleted ${card.filename}`);
      onDeleted();
    } catch (error) {
      button.disabled = false;
      button.textContent = "Retry delete";
      button.setAttribute("aria-label", `Retry deleting ${card.filename}`);
      if (!problem) {
        problem = el("p", { className: "error-text delete-error", role: "alert" });
        (button.closest(".copy-buttons") || button).after(problem);
      }
      problem.textContent = `Could not delete ${card.filename}: ${error.message}`;
    }
  });
  return button;
}

/**
 * A URL as text that may wrap before its last two segments ("/s/<code>", "/p/<filehash>"), never
 * inside them: at phone width the distinguishing end stays whole (pages.split_url does the same).
 */
export function urlText(url) {
  const cut = url.lastIndexOf("/", url.lastIndexOf("/") - 1);
  const at = cut > 0 ? cut : 0;
  return [el("span", { className: "u-origin" }, url.slice(0, at)), el("span", { className: "u-path" }, url.slice(at))];
}

/** A "QR" toggle button and the code it shows (/p/<filehash>/qr.svg, fetched when first shown). */
function qrCode(card) {
  const image = el("img", { alt: `QR code for ${card.url_s}`, width: 132, height: 132, className: "qr-image", hidden: true });
  const button = el("button", {
    type: "button", className: "btn small qr-toggle", "aria-expanded": "false", "aria-label": `QR code for ${card.filename}`,
  }, "QR");
  button.addEventListener("click", () => {
    const show = image.hidden;
    if (show && !image.src) image.src = `/p/${encodeURIComponent(card.filehash)}/qr.svg`;
    image.hidden = !show;
    button.setAttribute("aria-expanded", String(show));
  });
  return { button, image };
}

/** Why a card has no Delete button, when its bytes were already stored (the answer was 200). */
function existingNote(card, askedPrivate) {
  const mine = Boolean(tokens.get(card.filehash));
  let text;
  if (mine) {
    text = "Already uploaded from this browser — this is the same file, with its links and Delete button.";
  } else if (!card.private) {
    text = "Already uploaded — this is the existing public copy. There is no Delete button: only the "
      + "browser that first uploaded these bytes holds the delete token.";
    if (askedPrivate) {
      text += " You asked for Unlisted, but the same bytes are already public, so they stay listed.";
    }
  } else {
    text = "Already uploaded — this is the existing copy. There is no Delete button: only the browser "
      + "that first uploaded it holds the delete token.";
  }
  return el("p", { className: "item-note", role: "note" }, text);
}

/** Fill an upload item with the finished card. */
export function renderCard(item, card, { existing = false, askedPrivate = false } = {}) {
  const qr = qrCode(card);
  item.className = "item done";
  item.dataset.filehash = card.filehash;
  if (existing) item.dataset.existing = "1";
  item.replaceChildren(
    el("a", { href: card.url_p, className: "thumb-link", tabIndex: -1, "aria-hidden": "true" }, thumbnail(card, 96)),
    el("div", { className: "item-body" },
      el("div", { className: "item-head" },
        el("a", { href: card.url_p, className: "item-name" }, card.filename),
        card.private ? el("span", { className: "tag" }, "unlisted") : null,
        existing ? el("span", { className: "tag" }, "existing") : null),
      el("p", { className: "item-meta" }, describe(card), expiry(card)),
      card.original ? el("p", { className: "item-meta" }, "Resized copy of ",
        el("a", { href: card.original.url_p }, card.original.filename), ` (${describe(card.original)})`) : null,
      existing ? existingNote(card, askedPrivate) : null,
      el("p", { className: "item-link" },
        el("a", { href: card.url_s, className: "short-url link-text" }, urlText(card.url_s))),
      el("div", { className: "copy-buttons", role: "group", "aria-label": `Copy links for ${card.filename}` },
        COPIES.map(([label, what, pick]) => el("button", {
          type: "button",
          className: "btn small copy",
          dataset: { copy: pick(card), copyKind: label.toLowerCase() },
          "aria-label": `Copy ${what}`,
        }, label)),
        qr.button,
        card.url_manage ? el("a", { href: card.url_manage, className: "btn small manage-link",
          "aria-label": `Manage ${card.filename}` }, "Manage") : null,
        deleteButton(card, () => {
          focusNeighbour(item);
          item.classList.add("deleted");
          item.replaceChildren(el("p", { className: "item-meta" }, `Deleted ${card.filename}.`));
          setTimeout(() => item.remove(), 2500);
        })),
      qr.image,
    ),
  );
  return item;
}

/** One line of the live feed. */
export function feedItem(card) {
  const time = el("time", { dateTime: card.uploaded_at, className: "ago" }, relativeTime(card.uploaded_at));
  const item = el("li", { className: "feed-item", dataset: { filehash: card.filehash } },
    el("a", { href: card.url_p, className: "feed-thumb", tabIndex: -1, "aria-hidden": "true" }, thumbnail(card, 48)),
    el("div", { className: "feed-body" },
      el("a", { href: card.url_p, className: "feed-name" }, card.filename),
      el("span", { className: "feed-meta" }, card.size_human, " · ", time)),
  );
  const remove = deleteButton(card, () => {
    focusNeighbour(item);
    item.remove();
  }, "feed-delete");
  if (remove) item.append(remove);
  return item;
}
