"""A local many-host web: one HTTP server on 127.0.0.1 that serves many sites by host name.

Scrapy reaches it as an HTTP proxy (the standard ``http_proxy`` variable, or a request's
``proxy`` meta): the proxy request carries the absolute URL (``GET http://news.example.com/
HTTP/1.1``), so pages keep their real absolute URLs and nothing touches DNS or the internet.

A site is a folder ``<root>/<host>/``: the URL path maps to a file (``/`` and paths ending
in ``/`` to ``index.html``), the content type comes from the extension, and names starting
with ``_`` are never served. ``<root>/<host>/_routes.json`` maps exact paths (query
included) to responses that take precedence over files::

    {"/old": {"status": 301, "headers": {"Location": "/new.html"}},
     "/gone": {"status": 410, "body": "gone"}}

With ``validators=True`` every 200 response carries an ``ETag`` (a digest of its body)
and a ``Last-Modified`` (when the resource was added, or the file's mtime), and a
request whose ``If-None-Match`` (or, without one, ``If-Modified-Since``) still holds is
answered ``304 Not Modified`` without a body, as RFC 9110 has it; without, no validators
are sent and every request gets the whole body. ``sent_bytes`` counts what the server
wrote: status lines, headers and bodies.

Sites can also be given in memory (``LocalWeb(pages={url: Resource(...)})``), which is how
tests and benchmarks build webs of their own. Run ``python -m linkcrawl.demo.localweb DIR`` to
serve a folder by hand.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = ["LocalWeb", "LocalWebServer", "Resource", "WebRequest", "serve"]


class WebRequest(NamedTuple):
    """A request as a :class:`LocalWeb` handler sees it."""

    method: str
    host: str
    path: str
    headers: Any


@dataclass
class Resource:
    """One response: status, headers and body.

    With ``chunk_size`` set the body is sent with chunked transfer encoding (no
    Content-Length), ``chunk_size`` bytes at a time, ``chunk_delay`` seconds apart: a giant
    of unknown size, or a host that answers one byte a second.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunk_size: int = 0
    chunk_delay: float = 0.0


NOT_FOUND = Resource(
    404,
    {"Content-Type": "text/html; charset=utf-8"},
    b"<!doctype html><title>404 Not Found</title><h1>Not Found</h1>",
)


class LocalWeb:
    """Answers ``(host, path)`` with a :class:`Resource`, from a folder and/or a mapping.

    ``handler`` may be a callable ``(request) -> Resource | None`` consulted first, for
    responses that depend on the request or on time; ``request`` is a
    :class:`WebRequest` (method, host, path, headers). Every request is logged in
    ``requests`` with its arrival time in ``times``.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        pages: Mapping[str, Resource] | None = None,
        handler: Callable[[WebRequest], Resource | None] | None = None,
        validators: bool = False,
    ) -> None:
        self.root = Path(root) if root is not None else None
        self.pages: dict[tuple[str, str], Resource] = {}
        self.validators = validators
        self.started = time.time()
        # When each resource given in memory was last added (its Last-Modified).
        self.modified: dict[tuple[str, str], float] = {}
        self.sent_bytes = 0
        for url, resource in (pages or {}).items():
            self.add(url, resource)
        self.handler = handler
        self._routes: dict[str, dict[str, Resource]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, host, path) in order
        self.times: list[float] = []  # time.monotonic() of each request
        self._lock = threading.Lock()

    def add(self, url: str, resource: Resource | str | bytes) -> None:
        """Serve ``resource`` at ``url`` (a str or bytes body is HTML with status 200)."""
        if not isinstance(resource, Resource):
            body = resource.encode() if isinstance(resource, str) else resource
            resource = Resource(200, {"Content-Type": "text/html; charset=utf-8"}, body)
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        self.pages[(parts.hostname or "", path)] = resource
        self.modified[(parts.hostname or "", path)] = time.time()

    def count_sent(self, n: int) -> None:
        """Add ``n`` to the bytes written (by the server's handler)."""
        with self._lock:
            self.sent_bytes += n

    def hosts(self) -> list[str]:
        """The host names this web serves."""
        found = {h for h, _ in self.pages}
        if self.root is not None and self.root.is_dir():
            found.update(
                p.name
                for p in self.root.iterdir()
                if p.is_dir() and not p.name.startswith(("_", "."))
            )
        return sorted(found)

    def _host_routes(self, host: str) -> dict[str, Resource]:
        routes = self._routes.get(host)
        if routes is None:
            routes = {}
            path = self.root / host / "_routes.json" if self.root is not None else None
            if path is not None and path.is_file():
                for route, spec in json.loads(path.read_text()).items():
                    body = spec.get("body", "")
                    routes[route] = Resource(
                        int(spec.get("status", 200)),
                        dict(spec.get("headers", {})),
                        body.encode() if isinstance(body, str) else bytes(body),
                    )
            self._routes[host] = routes
        return routes

    def resolve(self, host: str, path: str, headers: Any = None, method: str = "GET") -> Resource:
        """The response for ``http://<host><path>``."""
        with self._lock:
            self.requests.append((method, host, path))
            self.times.append(time.monotonic())
        resource, modified = self._find(host, path, headers, method)
        if self.validators and resource.status == 200 and not resource.chunk_size:
            return _conditional(resource, modified, headers)
        return resource

    def _find(self, host: str, path: str, headers: Any, method: str) -> tuple[Resource, float]:
        """The resource at ``host`` and ``path``, and when it last changed."""
        if self.handler is not None:
            found = self.handler(WebRequest(method, host, path, headers))
            if found is not None:
                return found, self.started
        resource = self.pages.get((host, path))
        if resource is not None:
            return resource, self.modified.get((host, path), self.started)
        if self.root is None:
            return NOT_FOUND, self.started
        route = self._host_routes(host).get(path)
        if route is not None:
            return route, self.started
        file = self._file(host, path.partition("?")[0])
        return file, self._mtime(host, path.partition("?")[0])

    def _mtime(self, host: str, path: str) -> float:
        assert self.root is not None
        rel = path.lstrip("/")
        if not rel or rel.endswith("/"):
            rel += "index.html"
        try:
            return (self.root / host / rel).stat().st_mtime
        except OSError:
            return self.started

    def _file(self, host: str, path: str) -> Resource:
        assert self.root is not None
        site = (self.root / host).resolve()
        rel = path.lstrip("/")
        if not rel or rel.endswith("/"):
            rel += "index.html"
        if any(part.startswith(("_", ".")) for part in rel.split("/")):
            return NOT_FOUND
        file = (site / rel).resolve()
        if not file.is_relative_to(site) or not file.is_file():
            return NOT_FOUND
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        return Resource(200, {"Content-Type": ctype}, file.read_bytes())


def _conditional(resource: Resource, modified: float, headers: Any) -> Resource:
    """``resource`` with its validators, or a 304 when the request's still hold
    (If-None-Match first; If-Modified-Since only without it)."""
    etag = '"' + hashlib.sha1(resource.body, usedforsecurity=False).hexdigest()[:20] + '"'
    last_modified = formatdate(int(modified), usegmt=True)
    validators = {"ETag": etag, "Last-Modified": last_modified}
    match = headers.get("If-None-Match") if headers is not None else None
    since = headers.get("If-Modified-Since") if headers is not None else None
    fresh = False
    if match:
        fresh = etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*"
    elif since:
        try:
            fresh = parsedate_to_datetime(since).timestamp() >= int(modified)
        except (TypeError, ValueError, IndexError):
            fresh = False
    if fresh:
        return Resource(304, validators)
    return replace(resource, headers={**resource.headers, **validators})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # Headers and body go out in separate writes: without TCP_NODELAY every keep-alive
    # response waits ~40 ms for the delayed ACK (Nagle).
    disable_nagle_algorithm = True
    server_version = "linkcrawl-localweb"
    web: LocalWeb

    def _target(self) -> tuple[str, str]:
        if self.path.startswith(("http://", "https://")):
            parts = urlsplit(self.path)
            host = (parts.hostname or "").lower()
            path = parts.path or "/"
            if parts.query:
                path = f"{path}?{parts.query}"
            return host, path
        host = (self.headers.get("Host") or "").partition(":")[0].lower()
        return host, self.path

    def send_response_only(self, code: int, message: str | None = None) -> None:
        super().send_response_only(code, message)
        self.web.count_sent(len(f"{self.protocol_version} {code} {message or ''}\r\n"))

    def send_header(self, keyword: str, value: str) -> None:
        super().send_header(keyword, value)
        self.web.count_sent(len(f"{keyword}: {value}\r\n"))

    def _respond(self, send_body: bool) -> None:
        host, path = self._target()
        resource = self.web.resolve(host, path, self.headers, self.command)
        self.send_response(resource.status)
        for name, value in resource.headers.items():
            self.send_header(name, value)
        if resource.chunk_size:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if send_body:
                self._send_chunked(resource)
            return
        if resource.status != 304:  # a 304 has no body, so no length of one
            self.send_header("Content-Length", str(len(resource.body)))
        self.end_headers()
        if send_body and resource.body:
            self.web.count_sent(len(resource.body))
            try:
                self.wfile.write(resource.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client hung up (a size cap, a timeout)

    def _send_chunked(self, resource: Resource) -> None:
        body, size = resource.body, resource.chunk_size
        try:
            for start in range(0, len(body), size):
                chunk = body[start : start + size]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if resource.chunk_delay:
                    time.sleep(resource.chunk_delay)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up: that is the point

    def do_GET(self) -> None:
        self._respond(True)

    def do_HEAD(self) -> None:
        self._respond(False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and the demo read the crawl's output, not the server log


class LocalWebServer:
    """Serves a :class:`LocalWeb` on 127.0.0.1 (a free port) in a background thread.

    >>> from linkcrawl.demo import web_root
    >>> with LocalWebServer(LocalWeb(web_root())) as server:   # doctest: +SKIP
    ...     print(server.proxy_url)                           # give to http_proxy
    """

    def __init__(self, web: LocalWeb, port: int = 0) -> None:
        self.web = web
        handler = type("Handler", (_Handler,), {"web": web})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="linkcrawl-localweb"
        )

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalWebServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LocalWebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(root: Path | str, port: int = 0) -> LocalWebServer:
    """Start serving the sites in ``root``; returns the running server."""
    return LocalWebServer(LocalWeb(root), port).start()


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="folder with one sub-folder per host name")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = serve(args.root, args.port)
    print(f"export http_proxy={server.proxy_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
