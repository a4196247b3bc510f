// Render the API's OpenAPI document with the vendored Swagger UI (read only: no "try it out").
(function () {
  var spec = JSON.parse(document.getElementById("spec-data").textContent);
  SwaggerUIBundle({ spec: spec, dom_id: "#spec-viewer", supportedSubmitMethods: [], deepLinking: false });
})();
