"""HTTP for the registry feeds (and the webhooks of `act`): retries with backoff on 429, 5xx and broken connections, a
deadline per response that holds whatever the server's pace (a watchdog shuts the connection
down when it passes), a cap on the response size, redirects followed only within the configured
scheme, host and port (the credentials go nowhere else), and errors that are one line and never
hold a credential (headers are never quoted; a URL is quoted without its user part or query).
"""
import http.client
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Dict, Optional

MAX_RESPONSE_BYTES = 512 << 20
RETRYABLE = frozenset({429, 500, 502, 503, 504})
_log = logging.getLogger("takedown_scan")


class FeedError(Exception):
    """The sync cannot go on; str() is a one-line reason for the user."""


class HttpStatusError(FeedError):
    """The server answered with an error status that retrying does not mend."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpSettings:
    retries: int = 5  # further tries after the first
    first_wait_s: float = 1.0  # doubled after each retry
    max_wait_s: float = 60.0
    timeout_s: float = 60.0  # a connection or read that stalls this long fails
    deadline_s: float = 300.0  # a whole response that takes longer fails


def safe_url(url: str) -> str:
    """The URL as it may appear in messages: no user:password@, no query."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def origin(url: str) -> tuple:
    """(scheme, host, port) of a URL, the port made explicit: what credentials are bound to."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def under(base_url: str, path_and_query: str, source: str) -> str:
    """base_url + a path the feed sent (a next link, a fingerprint's link); FeedError when the
    result would name another server ("@host/..." after a base without a path does)."""
    url = base_url + path_and_query
    if origin(url) != origin(base_url) or urllib.parse.urlsplit(url).username is not None:
        raise FeedError(f"{source}: the feed sent a link to another server ({safe_url(url)}); "
                        "the credentials are only sent to the configured one")
    return url


class _Watchdog:
    """Shuts down the sockets of one request when its deadline passes, so that a server that
    sends a byte at a time cannot hold a read past it."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def watch(self, sock) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the scheme, host and port the request was configured for."""

    def __init__(self, source: str, url: str):
        self._source, self._url = source, url

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if origin(newurl) != origin(self._url):
            raise RedirectRefused(f"{self._source}: {safe_url(self._url)} redirects to another server "
                                  f"({safe_url(newurl)}); the credentials are only sent to the configured one")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class RedirectRefused(FeedError):
    """A redirect to another scheme, host or port: never followed, never retried."""


def _opener(source: str, url: str, watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """An opener whose connections the watchdog can cut and whose redirects stay on url's origin."""

    def watched(base):
        class Connection(base):
            def connect(self):
                super().connect()
                watchdog.watch(self.sock)
        return Connection

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(watched(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(watched(http.client.HTTPSConnection), req, context=self._context,
                                check_hostname=self._check_hostname)

    return urllib.request.build_opener(Http, Https, _SameOrigin(source, url))


def _retry_after(error: urllib.error.HTTPError) -> Optional[float]:
    value = error.headers.get("Retry-After") if error.headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _read(response, what: str) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = response.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise FeedError(f"{what} answered more than {MAX_RESPONSE_BYTES >> 20} MiB")
        chunks.append(chunk)


def get(url: str, headers: Dict[str, str], settings: HttpSettings, source: str) -> bytes:
    """The body of a GET of url; FeedError (one line) when it cannot be had."""
    return send("GET", url, headers, settings, source)


def send(method: str, url: str, headers: Dict[str, str], settings: HttpSettings, source: str,
         body: Optional[bytes] = None) -> bytes:
    """The answer's body to a request that may be repeated (GET, or a PUT/POST of the same
    feedback); FeedError (one line) when it cannot be had."""
    what = f"{source}: {method} {safe_url(url)}"
    wait = settings.first_wait_s
    for attempt in range(settings.retries + 1):
        last = attempt == settings.retries
        watchdog = _Watchdog(settings.deadline_s)
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method=method)
            with _opener(source, url, watchdog).open(request, timeout=settings.timeout_s) as response:
                data = _read(response, what)
            if watchdog.expired:  # the cut may end a read as if the body were complete
                raise TimeoutError()
            return data
        except RedirectRefused:
            raise
        except urllib.error.HTTPError as e:
            e.close()
            if e.code in (401, 403):
                raise HttpStatusError(f"{source}: the credentials were refused (HTTP {e.code} from "
                                      f"{safe_url(url)})", e.code) from None
            if e.code not in RETRYABLE:
                raise HttpStatusError(f"{what} answered HTTP {e.code}", e.code) from None
            if last:
                raise FeedError(f"{what} still answered HTTP {e.code} after {attempt + 1} tries") from None
            pause = _retry_after(e)
            reason = f"HTTP {e.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout, OSError,
                http.client.HTTPException) as e:
            detail = getattr(e, "reason", None) or e
            if watchdog.expired:
                e, detail = TimeoutError(), f"took longer than its deadline of {settings.deadline_s:g} s"
            if last:
                raise FeedError(f"{what} cannot be reached after {attempt + 1} tries: "
                                f"{type(e).__name__}: {detail}") from None
            pause = None
            reason = type(e).__name__
        finally:
            watchdog.cancel()
        pause = min(settings.max_wait_s, wait if pause is None else pause)
        _log.info("%s: %s, trying again in %.1f s", what, reason, pause)
        time.sleep(pause)
        wait = min(settings.max_wait_s, wait * 2)
    raise AssertionError("unreachable")
