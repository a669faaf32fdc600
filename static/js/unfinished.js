// After a reload, say which resumable (tus) uploads this browser left unfinished — the tus client
// keeps their URLs in localStorage — and how far the server got: "unfinished: big70.bin (23.0 of
// 70.0 MiB) — choose it again to resume". Choosing the same file resumes it; Discard terminates it.
import { announce, el, humanSize } from "./common.js";

export class UnfinishedUploads {
  /**
   * @param {object} options
   * @param {HTMLElement} options.section the panel (hidden while empty), with a <ul> inside
   * @param {() => void} options.choose opens the file chooser
   */
  constructor({ section, choose }) {
    this.section = section;
    this.list = section.querySelector("ul");
    this.choose = choose;
    this.items = new Map(); // storage key -> <li>
  }

  async load() {
    let tus;
    try {
      tus = await import("./tus.js");
    } catch {
      return; // no resumable client here
    }
    if (typeof tus.storedUploads !== "function" || typeof tus.describeStored !== "function") return;
    this.tus = tus;
    for (const entry of tus.storedUploads()) {
      if (entry.endpoint !== "/api/v1/tus/" || !entry.url) continue;
      let state;
      try {
        state = await tus.describeStored(entry);
      } catch {
        state = { offset: null, length: entry.size }; // unknown for now (offline): still worth saying
      }
      if (state === null) {
        tus.discardStored(entry, { terminate: false }); // the server forgot it (expired): so do we
        continue;
      }
      this.show(entry, state);
    }
  }

  show(entry, { offset, length }) {
    const progress = offset === null ? humanSize(length) : `${humanSize(offset)} of ${humanSize(length)}`;
    const chooseButton = el("button", { type: "button", className: "btn small",
      "aria-label": `Choose ${entry.name} again to resume` }, "Choose file");
    const discardButton = el("button", { type: "button", className: "btn small danger",
      "aria-label": `Discard the unfinished upload of ${entry.name}` }, "Discard");
    chooseButton.addEventListener("click", () => this.choose());
    discardButton.addEventListener("click", async () => {
      discardButton.disabled = true;
      await this.tus.discardStored(entry);
      this.remove(entry.key);
      announce(`Discarded the unfinished upload of ${entry.name}`);
      document.getElementById("dropzone")?.focus();
    });
    const item = el("li", { className: "unfinished-item", dataset: { key: entry.key } },
      el("p", { className: "unfinished-text" },
        el("strong", {}, "unfinished: "), el("span", { className: "unfinished-name" }, entry.name),
        ` (${progress}) — choose it again to resume`),
      el("div", { className: "copy-buttons" }, chooseButton, discardButton));
    this.items.set(entry.key, item);
    this.list.append(item);
    this.section.hidden = false;
  }

  remove(key) {
    const item = this.items.get(key);
    if (item) item.remove();
    this.items.delete(key);
    this.section.hidden = this.items.size === 0;
  }

  /** A file went into the queue through tus: if it is one of ours, it resumes now. */
  resuming(file) {
    for (const [key, item] of this.items) {
      const entry = this.tus?.storedUploads().find((each) => each.key === key);
      if (entry && entry.name === file.name && entry.size === file.size && entry.type === file.type
          && String(entry.lastModified) === String(file.lastModified ?? "")) {
        this.remove(key);
        announce(`Resuming ${file.name}`);
      } else if (!entry) {
        item.remove(); // finished or discarded in another tab
        this.items.delete(key);
      }
    }
    this.section.hidden = this.items.size === 0;
  }
}
