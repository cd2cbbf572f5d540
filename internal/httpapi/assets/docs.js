// Starts Swagger UI on the document this server serves. Kept out of the
// HTML so that the page's Content-Security-Policy can forbid inline scripts.
// validatorUrl null: the page must never call out to the internet.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    persistAuthorization: false
  });
});
