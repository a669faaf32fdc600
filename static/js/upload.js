// The upload page: drop/choose/paste files, upload them concurrently with real progress,
// turn each into a card with its links, and keep a live feed of recent public uploads.
import {
  announce, apiJSON, collectionTokens, el, enableCopyButtons, errorMessage, humanSize, humanSpeed, relativeTime, tokens,
} from "./common.js";
import { feedItem, renderCard } from "./cards.js";
import { EventFeed } from "./feed.js";

const form = document.getElementById("upload-form");
const input = document.getElementById("file");
const dropzone = document.getElementById("dropzone");
const list = document.getElementById("uploads");
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
dropzone.setAttribute("aria-label", "Choose files to upload, or drop or paste them anywhere on the page");
enableCopyButtons();

// -- the queue: a few uploads at a time, the rest wait --------------------------------------------
const waiting = [];
let running = 0;

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
      el("strong", {}, "Collection: ", el("a", { href: coll.url, className: "collection-link" }, coll.url)),
      el("span", { className: "item-meta" },
        el("a", { href: coll.url_manage, className: "collection-manage" }, "Manage"), " · ",
        el("button", { type: "button", className: "btn small copy", dataset: { copy: coll.url_s },
          "aria-label": "Copy the collection's link" }, "Copy link")));
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
  let banner = null;
  if (opts.collection && files.length > 1) {
    banner = el("li", { className: "collection-banner" },
      el("strong", {}, `Collection of ${files.length} files`), el("span", { className: "item-meta" }, "creating…"));
    together = startCollection(files.length, opts, banner);
  }
  const jobs = files.map((file) => new UploadJob(file, opts, together));
  waiting.push(...jobs);
  for (const job of [...jobs].reverse()) list.prepend(job.item);
  if (banner) list.prepend(banner); // above its files
  if (files.length) announce(`${files.length} file${files.length > 1 ? "s" : ""} queued`);
  pump();
}

function pump() {
  while (running < config.concurrency && waiting.length) {
    const job = waiting.shift();
    if (job.state !== "queued") continue;
    running += 1;
    job.run().finally(() => {
      running -= 1;
      pump();
    });
  }
}

class UploadJob {
  constructor(file, opts, collection = null) {
    this.file = file;
    this.opts = opts;
    this.collection = collection;
    this.state = "queued";
    this.samples = [];
    this.progress = el("progress", { max: Math.max(1, file.size), value: 0, "aria-label": `Uploading ${file.name}` });
    this.stats = el("span", { className: "item-stats" }, "waiting…");
    this.cancelButton = el("button", { type: "button", className: "btn small", "aria-label": `Cancel ${file.name}` }, "Cancel");
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.item = el("li", { className: "item queued" },
      this.preview(),
      el("div", { className: "item-body" },
        el("div", { className: "item-head" },
          el("span", { className: "item-name" }, file.name || "unnamed"),
          el("span", { className: "item-size" }, humanSize(file.size))),
        el("div", { className: "item-progress" }, this.progress, this.stats, this.cancelButton)));
  }

  preview() {
    if (this.file.type.startsWith("image/") && this.file.size < 20 * 1024 * 1024 && this.file.type !== "image/svg+xml") {
      const url = URL.createObjectURL(this.file);
      const img = el("img", { className: "thumb", alt: "", src: url, width: 96, height: 96 });
      img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
      img.addEventListener("error", () => URL.revokeObjectURL(url), { once: true });
      return img;
    }
    return el("div", { className: "thumb thumb-icon", "aria-hidden": "true" }, "…");
  }

  setState(state) {
    this.state = state;
    this.item.classList.remove("queued", "uploading", "failed", "cancelled");
    this.item.classList.add(state);
  }

  onProgress(sent, total) {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 2000) this.samples.shift();
    const [t0, s0] = this.samples[0];
    const speed = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
    this.progress.max = Math.max(1, total);
    this.progress.value = sent;
    const percent = total ? Math.floor((sent * 100) / total) : 0;
    this.stats.textContent = `${percent}% · ${humanSpeed(speed)}`;
  }

  async run() {
    if (this.file.size > config.maxSize) {
      this.fail(`file exceeds the upload limit of ${humanSize(config.maxSize)}`);
      return;
    }
    this.setState("uploading");
    this.stats.textContent = "starting…";
    try {
      this.coll = this.collection ? await this.collection : null;
      // tus cannot carry a password or a download limit: such uploads go as one POST.
      const guarded = this.opts.password || this.opts.maxDownloads || this.opts.burn;
      const card = this.file.size >= config.tusMinSize && !guarded ? await this.viaTus() : await this.viaPost();
      if (this.coll && this.viaTusDone) {
        await apiJSON("POST", `/api/v1/collections/${encodeURIComponent(this.coll.code)}/files`,
          { filehash: card.filehash, token: card.delete_token }, { "X-Manage-Token": this.coll.manage_token });
      }
      this.finish(card);
    } catch (error) {
      if (this.state === "cancelled") return;
      this.fail(error.message || String(error));
    }
  }

  viaPost() {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.abort = () => xhr.abort();
      const data = new FormData();
      if (this.opts.private) data.append("private", "1");
      if (this.opts.expires) data.append("expires", this.opts.expires);
      if (this.opts.w && this.opts.h) {
        data.append("w", this.opts.w);
        data.append("h", this.opts.h);
      }
      if (this.opts.burn) data.append("burn", "1");
      else if (this.opts.maxDownloads) data.append("max_downloads", this.opts.maxDownloads);
      if (this.opts.password) data.append("password", this.opts.password);
      data.append("file", this.file, this.file.name || "upload.bin");
      if (this.coll) {
        xhr.open("POST", `/api/v1/collections/${encodeURIComponent(this.coll.code)}/upload`);
        xhr.setRequestHeader("X-Manage-Token", this.coll.manage_token);
      } else {
        xhr.open("POST", "/");
      }
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) this.onProgress(event.loaded, event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 200 || xhr.status === 201) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch {
            reject(new Error("the server sent an answer this page does not understand"));
          }
        } else {
          reject(new Error(errorMessage(xhr.status, xhr.responseText)));
        }
      });
      xhr.addEventListener("error", () => reject(new Error("the connection failed before the upload finished")));
      xhr.addEventListener("abort", () => reject(new Error("cancelled")));
      xhr.send(data);
    });
  }

  async viaTus() {
    let TusUpload;
    try {
      ({ TusUpload } = await import("./tus.js"));
    } catch {
      return this.viaPost(); // no resumable client on this server: one plain POST
    }
    return new Promise((resolve, reject) => {
      const upload = new TusUpload(this.file, {
        endpoint: "/api/v1/tus/",
        metadata: {
          filename: this.file.name || "upload.bin",
          filetype: this.file.type,
          private: this.opts.private ? "1" : "0",
          ...(this.opts.expires ? { expires: this.opts.expires } : {}),
        },
        onProgress: (sent, total) => this.onProgress(sent, total),
        onSuccess: (card) => {
          this.viaTusDone = true;
          resolve(card);
        },
        onError: (error) => reject(error instanceof Error ? error : new Error(String(error))),
      });
      this.abort = () => upload.abort();
      // Resumable: offer pause/resume next to cancel.
      let paused = false;
      const toggle = el("button", { type: "button", className: "btn small", "aria-label": `Pause ${this.file.name}` }, "Pause");
      toggle.addEventListener("click", () => {
        paused = !paused;
        if (paused) upload.pause();
        else upload.resume();
        toggle.textContent = paused ? "Resume" : "Pause";
        toggle.setAttribute("aria-label", `${paused ? "Resume" : "Pause"} ${this.file.name}`);
        if (paused) this.stats.textContent = "paused";
      });
      this.cancelButton.before(toggle);
      this.pauseButton = toggle;
      upload.start();
    });
  }

  cancel() {
    if (this.state === "queued" || this.state === "uploading") {
      const wasRunning = this.state === "uploading";
      this.setState("cancelled");
      if (wasRunning && this.abort) this.abort();
      if (this.pauseButton) this.pauseButton.remove();
      this.stats.textContent = "cancelled";
      this.cancelButton.textContent = "Dismiss";
      this.cancelButton.setAttribute("aria-label", `Dismiss ${this.file.name}`);
      announce(`Cancelled ${this.file.name}`);
      return;
    }
    this.item.remove();
  }

  fail(message) {
    this.setState("failed");
    if (this.pauseButton) this.pauseButton.remove();
    this.progress.remove();
    this.stats.replaceChildren(el("span", { className: "error-text", role: "alert" }, message));
    this.cancelButton.textContent = "Dismiss";
    this.cancelButton.setAttribute("aria-label", `Dismiss ${this.file.name}`);
    announce(`${this.file.name} was refused: ${message}`);
  }

  finish(card) {
    this.state = "done";
    // With a crop-resize size the answer is the resized copy, its original card inside.
    for (const each of [card, card.original]) {
      if (each && each.delete_token) tokens.set(each.filehash, each.delete_token);
    }
    renderCard(this.item, card);
    announce(`${card.filename} uploaded`);
    if (!card.private) addToFeed(card.original || card, true);
  }
}

// -- the three ways in: choose, drop, paste -----------------------------------------------------
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

function pastedName(kind, type) {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
  const ext = kind === "text" ? "txt" : (type.split("/")[1] || "bin").replace(/[^a-z0-9]/gi, "").slice(0, 8);
  return `pasted-${stamp}.${ext}`;
}

document.addEventListener("paste", (event) => {
  const data = event.clipboardData;
  if (!data) return;
  const files = [...data.files].map((file) =>
    file.name && file.name !== "image.png" ? file : new File([file], pastedName("file", file.type), { type: file.type }));
  const target = event.target;
  const editing = target instanceof HTMLElement && (target.isContentEditable || target.closest("input, textarea"));
  if (files.length) {
    event.preventDefault();
    enqueue(files);
    return;
  }
  if (editing) return; // typing a width into a box is not an upload
  const text = data.getData("text/plain");
  if (text) {
    event.preventDefault();
    enqueue([new File([text], pastedName("text"), { type: "text/plain" })]);
  }
});

// -- the live feed ------------------------------------------------------------------------------
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
