// The leadgraph GraphiQL page: GraphiQL with the explorer plugin, every asset served by the
// server itself (no CDN), run as an external script so the page's Content-Security-Policy
// needs no inline script.  Every request needs `Authorization: Bearer KEY`: the headers
// editor opens with that line to fill in.  URL parameters `q` (the query: `?query=` runs it
// as an API call instead), `variables` and `headers` prefill the editors.
(function () {
  "use strict";
  var DEFAULT_HEADERS = '{\n  "Authorization": "Bearer <paste an API key here>"\n}';
  var DEFAULT_QUERY =
    "# Put your API key in the Headers tab below:\n" +
    '#   {"Authorization": "Bearer <key>"}\n' +
    "# then run this query with the play button or Ctrl-Enter.\n" +
    "{\n  contacts(first: 5) {\n    totalCount\n  }\n}\n";

  var params = new URLSearchParams(window.location.search);
  var url = window.location.origin + window.location.pathname;
  var wsUrl = url.replace(/^http/, "ws");

  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: wsUrl });

  function App() {
    var explorer = GraphiQLPluginExplorer.explorerPlugin();
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: DEFAULT_QUERY,
      query: params.get("q") || undefined,
      variables: params.get("variables") || undefined,
      headers: params.get("headers") || undefined,
      defaultHeaders: DEFAULT_HEADERS,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
