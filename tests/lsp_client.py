"""A synchronous handle on `python -m stackspec lsp` through pygls's LanguageClient, for the tests
and benchmarks/bench_lsp.py: the client's event loop runs on a thread of its own, each request
waits for its answer, and published diagnostics are kept per document version."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30.0


class Session:
    def __init__(self, encodings: list[str] | None = None):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("stackspec-tests", "1")
        self.diagnostics: dict[str, dict[int | None, list[t.Diagnostic]]] = {}
        self.seen = threading.Condition()
        self.logs: list[str] = []
        self.refreshes = 0

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _published(params: t.PublishDiagnosticsParams):
            with self.seen:
                self.diagnostics.setdefault(params.uri, {})[params.version] = params.diagnostics
                self.seen.notify_all()

        @self.client.feature(t.WINDOW_LOG_MESSAGE)
        def _logged(params: t.LogMessageParams):
            self.logs.append(params.message)

        @self.client.feature(t.WORKSPACE_INLAY_HINT_REFRESH)
        def _refresh(params):
            self.refreshes += 1

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.run(self.client.start_io(sys.executable, "-m", "stackspec", "lsp", env=env))
        caps = t.ClientCapabilities(
            general=t.GeneralClientCapabilities(position_encodings=encodings)
            if encodings
            else None,
            workspace=t.WorkspaceClientCapabilities(
                inlay_hint=t.InlayHintWorkspaceClientCapabilities(refresh_support=True)
            ),
        )
        self.init = self.run(
            self.client.initialize_async(
                t.InitializeParams(capabilities=caps, root_uri=ROOT.as_uri())
            )
        )
        self.client.initialized(t.InitializedParams())

    def run(self, coro, timeout: float = TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(self, name: str, params, timeout: float = TIMEOUT):
        """`name` is the client's method, e.g. "text_document_hover"."""
        return self.run(getattr(self.client, f"{name}_async")(params), timeout)

    def notify(self, fn, params) -> None:
        self.loop.call_soon_threadsafe(fn, params)

    def open(self, uri: str, text: str, version: int = 1) -> None:
        item = t.TextDocumentItem(uri=uri, language_id="stackspec", version=version, text=text)
        self.notify(self.client.text_document_did_open, t.DidOpenTextDocumentParams(item))

    def change(self, uri: str, version: int, text: str, range_: t.Range | None = None) -> None:
        change = (
            t.TextDocumentContentChangePartial(range=range_, text=text)
            if range_ is not None
            else t.TextDocumentContentChangeWholeDocument(text=text)
        )
        params = t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(version=version, uri=uri), [change]
        )
        self.notify(self.client.text_document_did_change, params)

    def close(self, uri: str) -> None:
        params = t.DidCloseTextDocumentParams(t.TextDocumentIdentifier(uri))
        self.notify(self.client.text_document_did_close, params)

    def wait_diagnostics(self, uri: str, version: int, timeout: float = TIMEOUT):
        with self.seen:
            ok = self.seen.wait_for(
                lambda: version in self.diagnostics.get(uri, {}), timeout=timeout
            )
        assert ok, f"no diagnostics for {uri} version {version}"
        return self.diagnostics[uri][version]

    def stop(self) -> None:
        try:
            self.run(self.client.shutdown_async(None), timeout=10)
            self.client.exit(None)
            self.run(self.client.stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
