// The whole client: start `stackspec lsp` on stdio for .stack files. Everything else (the
// diagnostics, inlay hints, completion, hover, rename, formatting, outline) is the server's.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("stackspec")
    .get("server.command", ["stackspec", "lsp"]);
  client = new LanguageClient(
    "stackspec",
    "stackspec",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "stackspec" }, { scheme: "untitled", language: "stackspec" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
