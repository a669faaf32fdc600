// Line anchors of a highlighted text preview: #L10 and #L10-L20 mark lines (without JavaScript,
// CSS :target marks a single line), a click on a line number selects it, shift-click a range; the
// copy button copies the code without its line numbers.
import { announce, copyText } from "./common.js";

const view = document.getElementById("code-view");
const total = Number(view.dataset.lines);
let anchor = null;
view.classList.add("js-lines");

export function parseRange(hash) {
  const found = /^#L(\d+)(?:-L?(\d+))?$/.exec(hash || "");
  if (!found) return null;
  let first = Number(found[1]);
  let last = found[2] ? Number(found[2]) : first;
  if (first > last) [first, last] = [last, first];
  if (first < 1 || first > total) return null;
  return [first, Math.min(last, total)];
}

function mark(range, scroll) {
  for (const line of view.querySelectorAll(".line.hl")) line.classList.remove("hl");
  if (!range) return;
  const [first, last] = range;
  for (let n = first; n <= last; n += 1) document.getElementById(`L${n}`).classList.add("hl");
  if (scroll) document.getElementById(`L${first}`).scrollIntoView({ block: "center" });
}

view.addEventListener("click", (event) => {
  const link = event.target.closest("a.ln");
  if (!link) return;
  event.preventDefault();
  const line = Number(link.dataset.line);
  let range = [line, line];
  if (event.shiftKey && anchor !== null) range = [Math.min(anchor, line), Math.max(anchor, line)];
  else anchor = line;
  const hash = range[0] === range[1] ? `#L${range[0]}` : `#L${range[0]}-L${range[1]}`;
  history.replaceState(null, "", hash);
  mark(range, false);
  announce(range[0] === range[1] ? `Line ${range[0]} selected` : `Lines ${range[0]} to ${range[1]} selected`);
});

window.addEventListener("hashchange", () => mark(parseRange(location.hash), true));
mark(parseRange(location.hash), true);

const copyButton = document.getElementById("copy-code");
if (copyButton) {
  copyButton.addEventListener("click", async () => {
    const text = Array.from(view.querySelectorAll(".lc"), (line) => line.textContent).join("\n") + "\n";
    const ok = await copyText(text);
    copyButton.textContent = ok ? "Copied!" : "Could not copy";
    announce(ok ? "Code copied to the clipboard" : "Could not copy the code");
    setTimeout(() => { copyButton.textContent = "Copy"; }, 1600);
  });
}
