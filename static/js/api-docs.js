// The API reference page: Swagger UI (static/vendor/swagger-ui/, pinned by the Makefile) over
// /api/v1/openapi.yaml. An external module, so the page keeps script-src 'self'.
const host = document.getElementById("swagger-ui");
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
