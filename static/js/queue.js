// The upload queue of the upload page: a few uploads at a time (data-concurrency), the rest wait.
// The list shows what needs the user first: pasted items waiting for a yes, then running uploads,
// then waiting ones, then finished cards (newest first); above it a batch summary (n of m, bytes).
import { announce, apiJSON, el, errorMessage, humanSize, humanSpeed, tokens } from "./common.js";
import { focusNeighbour, renderCard } from "./cards.js";
import { SpeedMeter } from "./speed.js";

// data-rank of the list's items: lower sorts first.
export const RANK = { pending: 0, uploading: 1, queued: 2, finished: 3 };

/** Move `item` into its rank's group of `list` (at the group's end, or its start), keeping focus. */
export function place(list, item, rank, { atStart = false } = {}) {
  item.dataset.rank = String(rank);
  const focused = item.contains(document.activeElement) ? document.activeElement : null;
  const before = [...list.children].find((other) => other !== item
    && (atStart ? Number(other.dataset.rank) >= rank : Number(other.dataset.rank) > rank));
  if (before) {
    if (item.nextElementSibling !== before) list.insertBefore(item, before);
  } else if (list.lastElementChild !== item) {
    list.append(item);
  }
  if (focused && document.activeElement !== focused) focused.focus({ preventScroll: true });
}

export class UploadQueue {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list the <ol> of items
   * @param {HTMLElement} options.summary the batch summary (text + progress inside)
   * @param {{concurrency: number, maxSize: number, tusMinSize: number}} options.config
   * @param {(card: object) => void} [options.onUploaded] a file was stored (for the live feed)
   * @param {(file: File) => void} [options.onResumable] a file goes through tus (it may resume)
   */
  constructor({ list, summary, config, onUploaded = () => {}, onResumable = () => {} }) {
    this.list = list;
    this.summary = summary;
    this.summaryText = summary.querySelector(".batch-text");
    this.summaryBar = summary.querySelector("progress");
    this.config = config;
    this.onUploaded = onUploaded;
    this.onResumable = onResumable;
    this.waiting = [];
    this.running = 0;
    this.batch = [];
  }

  /** Whether anything would be lost by leaving the page now. */
  get busy() {
    return this.batch.some((job) => job.state === "queued" || job.state === "uploading");
  }

  /** ``collection``: a promise of the collection (shares) these files go into, or of null. */
  add(files, opts, collection = null) {
    if (!files.length) return [];
    if (!this.busy) this.batch = []; // a new batch once the last one has settled
    const jobs = files.map((file) => new UploadJob(file, opts, this, collection));
    for (const job of jobs) {
      this.batch.push(job);
      this.waiting.push(job);
      place(this.list, job.item, RANK.queued);
    }
    announce(`${files.length} file${files.length > 1 ? "s" : ""} queued`);
    this.pump();
    this.update();
    return jobs;
  }

  pump() {
    while (this.running < this.config.concurrency && this.waiting.length) {
      const job = this.waiting.shift();
      if (job.state !== "queued") continue;
      this.running += 1;
      job.run().finally(() => {
        this.running -= 1;
        this.pump();
        this.update();
      });
    }
  }

  /** Redraw the batch summary: "2 of 5 uploaded · 3 uploading · 40% of 12.0 MiB". */
  update() {
    const jobs = this.batch;
    this.summary.hidden = jobs.length < 2;
    if (this.summary.hidden) return;
    const count = (state) => jobs.filter((job) => job.state === state).length;
    const counted = jobs.filter((job) => job.state !== "failed" && job.state !== "cancelled");
    const total = counted.reduce((sum, job) => sum + job.file.size, 0);
    const sent = counted.reduce((sum, job) => sum + (job.state === "done" ? job.file.size : job.sent), 0);
    const parts = [`${count("done")} of ${jobs.length} uploaded`];
    if (count("uploading")) parts.push(`${count("uploading")} uploading`);
    if (count("queued")) parts.push(`${count("queued")} waiting`);
    if (count("failed")) parts.push(`${count("failed")} failed`);
    if (count("cancelled")) parts.push(`${count("cancelled")} cancelled`);
    parts.push(`${total ? Math.floor((sent * 100) / total) : 100}% of ${humanSize(total)}`);
    this.summaryText.textContent = parts.join(" · ");
    this.summaryBar.max = Math.max(1, total);
    this.summaryBar.value = Math.min(sent, total);
    const settled = !this.busy;
    this.summary.classList.toggle("settled", settled);
    if (settled && !this.announcedBatch) {
      this.announcedBatch = true;
      announce(`Batch finished: ${parts.slice(0, -1).join(", ")}`);
    } else if (!settled) {
      this.announcedBatch = false;
    }
  }
}

class UploadJob {
  constructor(file, opts, queue, collection = null) {
    this.file = file;
    this.opts = opts;
    this.queue = queue;
    this.collection = collection;
    this.state = "queued";
    this.sent = 0;
    this.meter = new SpeedMeter();
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
    if (state !== "done") this.item.classList.add(state);
    const list = this.queue.list;
    if (state === "uploading") place(list, this.item, RANK.uploading);
    else if (state === "queued") place(list, this.item, RANK.queued);
    else place(list, this.item, RANK.finished, { atStart: true });
    this.queue.update();
  }

  onProgress(sent, total) {
    this.sent = sent;
    const speed = this.meter.sample(sent);
    this.progress.max = Math.max(1, total);
    this.progress.value = sent;
    const percent = total ? Math.floor((sent * 100) / total) : 0;
    this.stats.textContent = `${percent}% · ${speed === null ? "measuring…" : humanSpeed(speed)}`;
    this.queue.update();
  }

  async run() {
    if (this.file.size > this.queue.config.maxSize) {
      this.fail(`file exceeds the upload limit of ${humanSize(this.queue.config.maxSize)}`);
      return;
    }
    this.setState("uploading");
    this.stats.textContent = "starting…";
    try {
      this.coll = this.collection ? await this.collection : null;
      // tus cannot carry a password or a download limit: such uploads go as one POST.
      const guarded = this.opts.password || this.opts.maxDownloads || this.opts.burn;
      const answer = this.file.size >= this.queue.config.tusMinSize && !guarded
        ? await this.viaTus() : await this.viaPost();
      if (this.coll && this.viaTusDone) {
        await apiJSON("POST", `/api/v1/collections/${encodeURIComponent(this.coll.code)}/files`,
          { filehash: answer.card.filehash, token: answer.card.delete_token }, { "X-Manage-Token": this.coll.manage_token });
      }
      this.finish(answer);
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
            resolve({ card: JSON.parse(xhr.responseText), status: xhr.status });
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
    this.queue.onResumable(this.file);
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
        // No status from tus: a card without a delete token is a file that already existed.
        onSuccess: (card) => {
          this.viaTusDone = true;
          resolve({ card, status: card.delete_token ? 201 : 200 });
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
        else {
          this.meter.reset(); // the speed after a pause is measured afresh, without the resume burst
          upload.resume();
        }
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
    focusNeighbour(this.item);
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

  finish({ card, status }) {
    // 200: these bytes were already stored; the answer is that existing file (no delete token).
    const existing = status === 200;
    // With a crop-resize size the answer is the resized copy, its original card inside.
    for (const each of [card, card.original]) {
      if (each && each.delete_token) tokens.set(each.filehash, each.delete_token);
    }
    renderCard(this.item, card, { existing, askedPrivate: this.opts.private });
    this.setState("done");
    announce(existing ? `${card.filename} was already uploaded: this is the existing copy` : `${card.filename} uploaded`);
    this.queue.onUploaded(card);
  }
}
