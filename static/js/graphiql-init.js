// GraphiQL from vendored assets, posting with the session cookie and the CSRF token.
(function () {
  var root = document.getElementById("graphiql");
  function fetcher(params) {
    return fetch(root.dataset.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify(params),
    }).then(function (r) { return r.json(); });
  }
  ReactDOM.render(React.createElement(GraphiQL, { fetcher: fetcher }), root);
})();
