// The offline GraphQL console: a query editor that POSTs to /graphql with the console's token.
"use strict";
const $ = (id) => document.getElementById(id);
$("token").value = sessionStorage.getItem("access") || "";

async function run(query) {
  let variables = {};
  try {
    variables = JSON.parse($("variables").value || "{}");
  } catch (e) {
    $("result").textContent = "Variables are not JSON: " + e.message;
    return;
  }
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + $("token").value.trim() },
    body: JSON.stringify({ query, variables }),
  });
  $("result").textContent = JSON.stringify(await res.json(), null, 2);
}

$("run").onclick = () => run($("query").value);
$("schema").onclick = () => run("{ __schema { queryType { fields { name description } } mutationType { fields { name description } } subscriptionType { fields { name } } } }");
$("query").onkeydown = (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run($("query").value);
};
