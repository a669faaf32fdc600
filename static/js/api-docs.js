// The API reference page: Swagger UI (static/vendor/swagger-ui/, pinned by the Makefile) over
// /api/v1/openapi.yaml. An external module, so the page keeps script-src 'self'.
const host = document.getElementById("swagger-ui");

// Swagger UI's own dark theme (html.dark-mode), following the system like the rest of the site.
const dark = window.matchMedia("(prefers-color-scheme: dark)");
const followScheme = () => document.documentElement.classList.toggle("dark-mode", dark.matches);
followScheme();
dark.addEventListener("change", followScheme);

if (host && window.SwaggerUIBundle) {
  window.SwaggerUIBundle({
    url: host.dataset.specUrl,
    domNode: host,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
  });
}
