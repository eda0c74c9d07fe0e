// The developer portal: Swagger UI on this gateway's own OpenAPI document. Nothing is loaded
// from elsewhere: the validator badge (which would call validator.swagger.io) is off, and
// "Try it out" calls this gateway, the document's server "/".
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  displayRequestDuration: true,
  filter: true,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
