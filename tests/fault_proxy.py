"""A reverse proxy on 127.0.0.1 that forwards to a real server and misbehaves on object reads.

Object reads (S3 GET of a key, GCS `alt=media` downloads) can be delayed (`delay_s`), and for a
share of the objects (`faulty_share`, chosen by a hash of the path, so runs are reproducible)
the first `fail_first` reads get a 503 and the next `drop_first` have their connection dropped;
reads of paths containing one of `always_fail` always get a 503, and so do S3 listings whose query
contains one of `fail_listings`. Everything else passes through. Used by the fault
tests and by the read-concurrency benchmark (as a source of network latency).
"""
import http.client
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class FaultProxy:
    def __init__(self, upstream: str, faulty_share=0.0, fail_first=0, drop_first=0, delay_s=0.0, always_fail=(),
                 fail_listings=()):
        self.upstream = urlsplit(upstream)
        self.fail_listings = tuple(fail_listings)
        self.faulty_share, self.fail_first, self.drop_first = faulty_share, fail_first, drop_first
        self.delay_s = delay_s
        self.always_fail = tuple(always_fail)
        self.lock = threading.Lock()
        self.reads_of = {}  # path -> reads so far
        self.counts = {"reads": 0, "failed": 0, "dropped": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = unquote(urlsplit(self.path).query)
                if self.command == "GET" and "list-type" in query and any(t in query for t in proxy.fail_listings):
                    fault = "fail"
                elif proxy._is_read(self.command, self.path):
                    fault = proxy._fault(self.path)
                else:
                    fault = None
                if fault:
                    if fault == "drop":
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if fault == "fail":
                        message = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                        self.send_response(503)
                        self.send_header("Content-Length", str(len(message)))
                        self.end_headers()
                        self.wfile.write(message)
                        return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def _is_read(method: str, path: str) -> bool:
        parts = urlsplit(path)
        if method != "GET":
            return False
        if "alt=media" in parts.query:  # GCS download
            return True
        segments = [s for s in parts.path.split("/") if s]
        s3_listing = any(q in parts.query for q in ("list-type", "versioning", "versions", "location", "delimiter"))
        return len(segments) >= 2 and not s3_listing and not parts.path.startswith(("/storage/", "/download/"))

    def _fault(self, path: str):
        with self.lock:
            self.counts["reads"] += 1
            attempt = self.reads_of[path] = self.reads_of.get(path, 0) + 1
        if self.delay_s:
            time.sleep(self.delay_s)
        fault = None
        if any(token in unquote(path) for token in self.always_fail):
            fault = "fail"
        elif zlib.crc32(urlsplit(path).path.encode()) % 1000 < self.faulty_share * 1000:
            if attempt <= self.fail_first:
                fault = "fail"
            elif attempt <= self.fail_first + self.drop_first:
                fault = "drop"
        if fault:
            with self.lock:
                self.counts["failed" if fault == "fail" else "dropped"] += 1
        return fault

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
