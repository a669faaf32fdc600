// Pasting on the upload page never publishes anything by itself: what was pasted becomes a pending
// item ("Upload pasted text?") showing what it is and how it would be shared (public or unlisted,
// how long it is kept, read from the options when the user says yes). Upload or Discard.
import { announce, el, humanSize } from "./common.js";
import { focusNeighbour } from "./cards.js";
import { RANK, place } from "./queue.js";

const EXCERPT_CHARS = 240;

function pastedName(kind, type) {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
  const ext = kind === "text" ? "txt" : (type.split("/")[1] || "bin").replace(/[^a-z0-9]/gi, "").slice(0, 8);
  return `pasted-${stamp}.${ext}`;
}

/** The files of a paste event (clipboard files and images, or the text as a .txt file), or []. */
export function pastedFiles(event) {
  const data = event.clipboardData;
  if (!data) return [];
  const files = [...data.files].map((file) =>
    file.name && file.name !== "image.png" ? file : new File([file], pastedName("file", file.type), { type: file.type }));
  if (files.length) return files;
  const target = event.target;
  const editing = target instanceof HTMLElement && (target.isContentEditable || target.closest("input, textarea"));
  if (editing) return []; // typing a width into a box is not an upload
  const text = data.getData("text/plain");
  return text ? [new File([text], pastedName("text"), { type: "text/plain" })] : [];
}

/**
 * @param {object} options
 * @param {HTMLElement} options.list the upload list (the pending item goes at its top)
 * @param {() => {private: boolean, expires: string}} options.options the form's current options
 * @param {() => string} options.expiryLabel the "Keep for" choice as words
 * @param {HTMLFormElement} options.form the options form (its changes redraw the pending items)
 * @param {(files: File[]) => void} options.upload hand the confirmed files to the queue
 */
export class PasteConfirmations {
  constructor({ list, options, expiryLabel, form, upload }) {
    this.list = list;
    this.options = options;
    this.expiryLabel = expiryLabel;
    this.upload = upload;
    this.pending = new Set();
    form.addEventListener("change", () => this.pending.forEach((item) => item.refresh()));
  }

  /** Show a pending item for pasted files; nothing is sent until Upload is pressed. */
  offer(files) {
    const text = files.length === 1 && files[0].type === "text/plain" && files[0].name.startsWith("pasted-");
    const image = files.length === 1 && files[0].type.startsWith("image/");
    const question = text ? "Upload pasted text?" : image ? "Upload pasted image?"
      : `Upload ${files.length} pasted file${files.length > 1 ? "s" : ""}?`;
    const sharing = el("p", { className: "item-meta pending-sharing" });
    const uploadButton = el("button", { type: "button", className: "btn primary small" }, "Upload");
    const discardButton = el("button", { type: "button", className: "btn small" }, "Discard");
    const questionId = `pending-${Math.random().toString(36).slice(2, 10)}`;
    const item = el("li", { className: "item pending" },
      this.preview(files, text, image),
      el("div", { className: "item-body" },
        el("div", { className: "item-head" },
          el("strong", { className: "pending-question", id: questionId }, question)),
        el("p", { className: "item-meta" },
          files.map((file) => `${file.name} (${humanSize(file.size)})`).join(", ")),
        text ? el("pre", { className: "paste-excerpt" }, "") : null,
        sharing,
        el("div", { className: "copy-buttons" }, uploadButton, discardButton)));
    if (text) this.fillExcerpt(item.querySelector(".paste-excerpt"), files[0]);
    item.refresh = () => {
      const opts = this.options();
      sharing.textContent = `${opts.private ? "Unlisted: only people with the link can open it"
        : "Public: listed in the recent uploads feed"} · kept for ${this.expiryLabel()}. `
        + "Change the options above before you upload.";
    };
    item.refresh();
    const close = () => {
      this.pending.delete(item);
      focusNeighbour(item);
      item.remove();
    };
    uploadButton.addEventListener("click", () => {
      close();
      this.upload(files);
    });
    discardButton.addEventListener("click", () => {
      close();
      announce("Discarded what was pasted");
    });
    this.pending.add(item);
    place(this.list, item, RANK.pending, { atStart: true });
    uploadButton.focus();
    announce(`${question} Nothing is uploaded until you press Upload.`);
    return item;
  }

  preview(files, text, image) {
    if (image) {
      const url = URL.createObjectURL(files[0]);
      const img = el("img", { className: "thumb", alt: "", src: url, width: 96, height: 96 });
      img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
      return img;
    }
    return el("div", { className: `thumb thumb-icon${text ? " type-text" : ""}`, "aria-hidden": "true" },
      text ? "TXT" : "…");
  }

  async fillExcerpt(node, file) {
    const whole = await file.slice(0, EXCERPT_CHARS * 4).text();
    node.textContent = whole.length > EXCERPT_CHARS || file.size > EXCERPT_CHARS * 4
      ? `${whole.slice(0, EXCERPT_CHARS)}…` : whole;
  }
}
