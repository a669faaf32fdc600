// The delete link carries its token in the fragment (/delete/<filehash>#<token>), which browsers
// never send: move it into the confirmation form, and out of the address bar and history.
const form = document.getElementById("delete-form");
const field = document.getElementById("delete-token");
const token = decodeURIComponent(location.hash.slice(1));
if (form && field && token) {
  field.value = token;
  field.type = "hidden";
  const label = form.querySelector("label[for=delete-token]");
  if (label) label.classList.add("visually-hidden");
  history.replaceState(null, "", location.pathname + location.search);
}
