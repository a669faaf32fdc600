// An upload-request page (/u/<code>): whoever holds the link uploads into the creator's collection.
// Each upload is one POST to this same address; the server enforces every limit. This browser
// remembers its own uploads (and their manage tokens); others' files show only if the creator allows.
import { announce, apiJSON, el, enableCopyButtons, errorMessage, humanSize, localizeTimes, tokens } from "./common.js";
import { renderCard } from "./cards.js";

const section = document.getElementById("request-page");
const form = document.getElementById("request-form");
const input = document.getElementById("request-file");
const dropzone = document.getElementById("dropzone");
const list = document.getElementById("request-uploads");
const maxSize = Number(section.dataset.maxFileSize) || Infinity;
const concurrency = Math.max(1, Number(section.dataset.concurrency) || 3);
const MINE_KEY = "tornado-paste.request-uploads";

document.documentElement.classList.add("js");
localizeTimes();
enableCopyButtons();
input.multiple = true;
input.required = false;
dropzone.tabIndex = 0;
dropzone.setAttribute("role", "button");
// The accessible name is the visible text ("Drop files here or choose files"), so what speech users
// say to click it matches what sighted users read.
dropzone.setAttribute("aria-labelledby", "dz-title");

function mine() {
  try {
    const all = JSON.parse(localStorage.getItem(MINE_KEY) || "{}");
    return Array.isArray(all[location.pathname]) ? all[location.pathname] : [];
  } catch {
    return [];
  }
}

function remember(card) {
  try {
    const all = JSON.parse(localStorage.getItem(MINE_KEY) || "{}");
    const cards = (all[location.pathname] || []).filter((c) => c.filehash !== card.filehash);
    cards.push(card);
    all[location.pathname] = cards.slice(-200);
    localStorage.setItem(MINE_KEY, JSON.stringify(all));
  } catch { /* storage full or disabled: the upload still happened */ }
}

function shown(card) {
  if (list.querySelector(`[data-filehash="${CSS.escape(card.filehash)}"]`)) return;
  list.prepend(renderCard(el("li"), card));
}

const waiting = [];
let running = 0;

function enqueue(files) {
  for (const file of files) {
    const progress = el("progress", { max: Math.max(1, file.size), value: 0, "aria-label": `Uploading ${file.name}` });
    const stats = el("span", { className: "item-stats" }, "waiting…");
    const item = el("li", { className: "item uploading" },
      el("div", { className: "item-body" },
        el("div", { className: "item-head" }, el("span", { className: "item-name" }, file.name),
          el("span", { className: "item-size" }, humanSize(file.size))),
        el("div", { className: "item-progress" }, progress, stats)));
    list.prepend(item);
    waiting.push({ file, item, progress, stats });
  }
  pump();
}

function pump() {
  while (running < concurrency && waiting.length) {
    const job = waiting.shift();
    running += 1;
    send(job).finally(() => {
      running -= 1;
      pump();
    });
  }
}

function fail(job, message) {
  job.item.className = "item failed";
  job.progress.remove();
  job.stats.replaceChildren(el("span", { className: "error-text", role: "alert" }, message));
  announce(`${job.file.name} was refused: ${message}`);
}

function send(job) {
  if (job.file.size > maxSize) {
    fail(job, `file exceeds this link's limit of ${humanSize(maxSize)}`);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const data = new FormData();
    data.append("file", job.file, job.file.name || "upload.bin");
    xhr.open("POST", location.pathname);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      job.progress.max = event.total;
      job.progress.value = event.loaded;
      job.stats.textContent = `${Math.floor((event.loaded * 100) / event.total)}%`;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 200 || xhr.status === 201) {
        const card = JSON.parse(xhr.responseText);
        if (card.delete_token) tokens.set(card.filehash, card.delete_token);
        remember(card);
        renderCard(job.item, card);
        announce(`${card.filename} uploaded`);
      } else {
        fail(job, errorMessage(xhr.status, xhr.responseText));
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      fail(job, "the connection failed before the upload finished");
      resolve();
    });
    xhr.send(data);
  });
}

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
for (const kind of ["dragenter", "dragover"]) {
  window.addEventListener(kind, (event) => {
    if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
  });
}
window.addEventListener("drop", (event) => {
  if (!event.dataTransfer || !event.dataTransfer.files.length) return;
  event.preventDefault();
  enqueue([...event.dataTransfer.files]);
});

for (const card of mine()) shown(card);
if (section.dataset.view === "all") {
  apiJSON("GET", location.pathname).then((summary) => {
    for (const card of summary.files || []) shown(card);
  }).catch(() => { /* the list stays as it is */ });
}
