// A file's manage page: the token comes from the URL's fragment (never sent to the server by the
// browser, so never in a log) and goes to the API in X-Manage-Token.
import { announce, apiJSON, fragmentToken, localizeTimes, tokens } from "./common.js";

const page = document.getElementById("manage-page");
const filehash = page.dataset.filehash;
const api = page.dataset.urlApi;
const status = document.getElementById("manage-status");
const form = document.getElementById("manage-form");
const field = (id) => document.getElementById(id);
const token = fragmentToken();
let current = null;

document.documentElement.classList.add("js");
localizeTimes();

function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
  status.hidden = false;
  announce(text);
}

function when(iso) {
  if (!iso) return "never (as long as the service keeps files)";
  const moment = new Date(iso);
  return moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function fill(card) {
  current = card;
  field("manage-name").textContent = card.filename;
  field("m-filename").value = card.filename;
  field("m-private").checked = card.private;
  field("m-expires").value = "";
  field("m-expires-now").textContent = when(card.expires_at);
  field("m-expires-now").dataset.iso = card.expires_at || "";
  field("m-password").value = "";
  field("m-password-clear").checked = false;
  field("m-password-now").textContent = card.password ? "set" : "none";
  field("m-downloads-now").textContent = card.max_downloads === null
    ? `${card.downloads} (no limit)` : `${card.downloads} of ${card.max_downloads}`;
  field("m-max-downloads").value = card.max_downloads === null ? "" : String(card.max_downloads);
}

function changes() {
  const out = {};
  const name = field("m-filename").value.trim();
  if (name && name !== current.filename) out.filename = name;
  if (field("m-private").checked !== current.private) out.private = field("m-private").checked;
  if (field("m-expires").value) out.expires = field("m-expires").value;
  if (field("m-password-clear").checked) out.password = null;
  else if (field("m-password").value) out.password = field("m-password").value;
  const limit = field("m-max-downloads").value.trim();
  const wanted = limit === "" ? null : Number(limit);
  if (wanted !== current.max_downloads) out.max_downloads = wanted;
  return out;
}

async function start() {
  if (!token) {
    say("This manage link has no token after the #. Use the full link you got when you uploaded.", "error");
    return;
  }
  try {
    fill(await apiJSON("PATCH", api, {}, { "X-Manage-Token": token }));
  } catch (error) {
    say(error.status === 403 ? "This manage link's token does not match the file." : `Could not open: ${error.message}`,
      "error");
    return;
  }
  tokens.set(filehash, token); // this browser may now delete it from the other pages too
  status.hidden = true;
  form.hidden = false;
  page.dataset.ready = "1";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = changes();
  if (!Object.keys(body).length) {
    say("Nothing to change.");
    return;
  }
  field("m-save").disabled = true;
  try {
    fill(await apiJSON("PATCH", api, body, { "X-Manage-Token": token }));
    say("Saved.", "ok");
  } catch (error) {
    say(`Not saved: ${error.message}`, "error");
  } finally {
    field("m-save").disabled = false;
  }
});

field("m-delete").addEventListener("click", async () => {
  if (!window.confirm(`Delete “${current.filename}” for everyone?`)) return;
  try {
    await apiJSON("DELETE", api, undefined, { "X-Manage-Token": token });
  } catch (error) {
    say(`Could not delete: ${error.message}`, "error");
    return;
  }
  tokens.remove(filehash);
  form.hidden = true;
  say("Deleted. Its links no longer work.", "ok");
});

start();
