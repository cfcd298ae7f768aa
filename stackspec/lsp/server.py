"""The protocol wiring: documents, the debounced compile, and one handler per feature.

Each change schedules one compile, DEBOUNCE seconds after the last keystroke, on a worker
thread so that requests keep being answered meanwhile; every request reads the newest compiled
version (analysis.py) and never compiles itself, except a rename, which must edit the text as
it is now. After a compile the server publishes the diagnostics and asks the client to fetch
the inlay hints again. A failure inside a handler or the compiler is logged (stderr and the
client's log) and answered with an empty result: a compiler bug never stops the server.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lsprotocol import types as t
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from ..compiler.fmt import format_source
from ..compiler.pipeline import Compiled
from ..diagnostics import Diagnostics, Span, SpecError, source_lines
from ..grammar.parser import paused_gc
from ..version import __version__
from . import completion, hints, hover, symbols
from .analysis import Analysis, analyze
from .diagnostics import diagnostics, to_range
from .positions import UTF16, from_client, units

DEBOUNCE = 0.15  # seconds of quiet after a change before it is compiled
log = logging.getLogger("stackspec.lsp")


@dataclass
class DocState:
    latest: Analysis | None = None  # the newest compile
    parsed: Analysis | None = None  # the newest whose text parsed: names, hover, outline
    built: Analysis | None = None  # the newest with an IR: shapes and counts
    pending: asyncio.Task | None = None


def safe_analyze(text: str, version: int | None, file: str) -> Analysis:
    """analyze(), with a compiler exception turned into one diagnostic instead of a crash."""
    try:
        return analyze(text, version, file)
    except Exception as e:  # a bug in the compiler: report it, keep serving
        log.error("compiling %s failed:\n%s", file, traceback.format_exc())
        diags = Diagnostics(file)
        diags.error(
            "internal",
            f"internal error: {type(e).__name__}: {e} (this is a bug in stackspec)",
            Span.point(1, 1),
        )
        return Analysis(version, text, source_lines(text), Compiled(None, None, diags), None)


class StackspecServer(LanguageServer):
    def __init__(self):
        super().__init__("stackspec", __version__)
        self.docs: dict[str, DocState] = {}
        self.compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compile")

    @property
    def encoding(self) -> str:
        enc = self.workspace.position_encoding
        return str(getattr(enc, "value", enc) or UTF16)

    def state(self, uri: str) -> DocState:
        return self.docs.setdefault(uri, DocState())

    def store(self, uri: str, a: Analysis) -> None:
        st = self.state(uri)
        if st.latest is not None and (a.version or 0) < (st.latest.version or 0):
            return  # an older version finished late
        st.latest = a
        # The analyses are large, long-lived and free of reference cycles: frozen, the cyclic
        # collector stops rescanning them on every collection (reference counting still frees
        # an analysis once it is replaced).
        gc.freeze()
        if a.index is not None:
            st.parsed = a
        if a.ir is not None:
            st.built = a

    def schedule(self, uri: str, delay: float) -> None:
        st = self.state(uri)
        if st.pending is not None:
            st.pending.cancel()
        version = self.workspace.get_text_document(uri).version
        st.pending = asyncio.ensure_future(self._compile(uri, version, delay))

    async def _compile(self, uri: str, version: int | None, delay: float) -> None:
        await asyncio.sleep(delay)
        doc = self.workspace.get_text_document(uri)
        if doc.version != version:
            return  # a newer change has its own compile scheduled
        st = self.state(uri)
        if st.latest is None or st.latest.version != version:
            loop = asyncio.get_running_loop()
            a = await loop.run_in_executor(
                self.compiler, safe_analyze, doc.source, version, doc.filename or "<spec>"
            )
            self.store(uri, a)
            self.publish(uri)
            await loop.run_in_executor(self.compiler, hints.precompute, a)
        else:
            self.publish(uri)

    def publish(self, uri: str) -> None:
        a = self.state(uri).latest
        if a is None:
            return
        params = t.PublishDiagnosticsParams(uri, diagnostics(a, self.encoding), a.version)
        self.text_document_publish_diagnostics(params)
        caps = self.client_capabilities.workspace
        if caps and caps.inlay_hint and caps.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    def analysis(self, uri: str, which: str = "parsed") -> Analysis | None:
        """The newest analysis of the kind a request reads; the first request on a document
        whose first compile has not finished compiles it."""
        st = self.state(uri)
        if st.latest is None:
            doc = self.workspace.get_text_document(uri)
            self.store(uri, safe_analyze(doc.source, doc.version, doc.filename or "<spec>"))
        return getattr(st, which)

    def current(self, uri: str) -> Analysis:
        """The analysis of the text as it is now (for edits: a rename)."""
        doc = self.workspace.get_text_document(uri)
        a = self.state(uri).latest
        if a is None or a.version != doc.version or a.text != doc.source:
            a = safe_analyze(doc.source, doc.version, doc.filename or "<spec>")
            self.store(uri, a)
        return a

    def position(self, a: Analysis, uri: str, pos: t.Position) -> tuple[int, int] | None:
        """A request's position in `a`'s text, if that line still reads as it did then."""
        lines = source_lines(self.workspace.get_text_document(uri).source)
        if pos.line >= len(a.lines) or pos.line >= len(lines):
            return None
        if lines[pos.line] != a.lines[pos.line]:
            return None
        return from_client(a.lines, pos.line, pos.character, self.encoding)

    def span_range(self, a: Analysis):
        return lambda span: to_range(a.lines, span, self.encoding)


server = StackspecServer()


def guarded(default=None):
    """Answer `default` when a handler fails, after logging why."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(ls: StackspecServer, params):
            try:
                # A request allocates little, but the collector would scan the whole of the
                # compiled specs each time it runs; reference counting frees what it drops.
                with paused_gc():
                    return fn(ls, params)
            except JsonRpcException:
                raise  # an answer meant for the client (a refused rename)
            except Exception:
                text = f"stackspec lsp: {fn.__name__} failed\n{traceback.format_exc()}"
                log.error(text)
                ls.window_log_message(t.LogMessageParams(t.MessageType.Error, text))
                return default

        return run

    return wrap


@server.feature(t.TEXT_DOCUMENT_DID_OPEN)
@guarded()
def did_open(ls: StackspecServer, params: t.DidOpenTextDocumentParams):
    ls.schedule(params.text_document.uri, 0)


@server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
@guarded()
def did_change(ls: StackspecServer, params: t.DidChangeTextDocumentParams):
    ls.schedule(params.text_document.uri, DEBOUNCE)


@server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
@guarded()
def did_close(ls: StackspecServer, params: t.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    st = ls.docs.pop(uri, None)
    if st is not None and st.pending is not None:
        st.pending.cancel()
    ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri, []))


@server.feature(t.TEXT_DOCUMENT_INLAY_HINT)
@guarded([])
def inlay_hint(ls: StackspecServer, params: t.InlayHintParams):
    uri = params.text_document.uri
    a = ls.analysis(uri, "built")
    if a is None:
        return []
    current = source_lines(ls.workspace.get_text_document(uri).source)
    r = params.range
    return hints.inlay_hints(a, r.start.line, r.end.line, current, ls.encoding)


@server.feature(t.TEXT_DOCUMENT_HOVER)
@guarded()
def on_hover(ls: StackspecServer, params: t.HoverParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    where = a and ls.position(a, uri, params.position)
    return hover.hover(a, *where, ls.span_range(a)) if where else None


@server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", "=", "|"]))
@guarded([])
def on_completion(ls: StackspecServer, params: t.CompletionParams):
    doc = ls.workspace.get_text_document(params.text_document.uri)
    text = doc.source
    lines = source_lines(text)
    line, column = from_client(lines, params.position.line, params.position.character, ls.encoding)
    return t.CompletionList(
        is_incomplete=False, items=completion.complete(text, lines, line, column)
    )


def _location(ls: StackspecServer, a: Analysis, uri: str, span: Span) -> t.Location:
    return t.Location(uri, ls.span_range(a)(span))


@server.feature(t.TEXT_DOCUMENT_DEFINITION)
@guarded()
def on_definition(ls: StackspecServer, params: t.DefinitionParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    where = a and ls.position(a, uri, params.position)
    span = symbols.definition(a, *where) if where else None
    return _location(ls, a, uri, span) if span else None


@server.feature(t.TEXT_DOCUMENT_REFERENCES)
@guarded([])
def on_references(ls: StackspecServer, params: t.ReferenceParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    where = a and ls.position(a, uri, params.position)
    if not where:
        return []
    spans = symbols.references(a, *where, params.context.include_declaration)
    return [_location(ls, a, uri, sp) for sp in spans]


@server.feature(t.TEXT_DOCUMENT_PREPARE_RENAME)
@guarded()
def on_prepare_rename(ls: StackspecServer, params: t.PrepareRenameParams):
    uri = params.text_document.uri
    a = ls.current(uri)
    where = from_client(a.lines, params.position.line, params.position.character, ls.encoding)
    span = symbols.rename_target(a, *where)
    return ls.span_range(a)(span) if span else None


@server.feature(t.TEXT_DOCUMENT_RENAME)
@guarded()
def on_rename(ls: StackspecServer, params: t.RenameParams):
    uri = params.text_document.uri
    a = ls.current(uri)
    where = from_client(a.lines, params.position.line, params.position.character, ls.encoding)
    spans, problem = symbols.rename(a, *where, params.new_name)
    if problem:
        # An error answer: the editor shows the reason and changes nothing.
        raise JsonRpcInvalidParams(problem)
    rng = ls.span_range(a)
    edits = [t.TextEdit(rng(sp), params.new_name) for sp in spans]
    return t.WorkspaceEdit(changes={uri: edits})


@server.feature(t.TEXT_DOCUMENT_FORMATTING)
@guarded()
def on_formatting(ls: StackspecServer, params: t.DocumentFormattingParams):
    doc = ls.workspace.get_text_document(params.text_document.uri)
    text = doc.source
    try:
        formatted = format_source(text, doc.filename or "<spec>")
    except SpecError:
        return None  # it does not parse: the diagnostics say why
    if formatted == text:
        return []
    lines = source_lines(text)
    end = t.Position(len(lines) - 1, units(lines[-1], ls.encoding))
    return [t.TextEdit(t.Range(t.Position(0, 0), end), formatted)]


@server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@guarded([])
def on_document_symbol(ls: StackspecServer, params: t.DocumentSymbolParams):
    a = ls.analysis(params.text_document.uri)
    return symbols.document_symbols(a, ls.span_range(a)) if a else []


def serve() -> None:
    logging.basicConfig(level=logging.WARNING, format="stackspec lsp: %(message)s")
    server.start_io()
