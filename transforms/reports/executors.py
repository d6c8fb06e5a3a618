"""Carrying out one due action (transforms/reports/actions.py) and saying how it went: tags on S3
objects (object tagging) and GCS objects (custom metadata), copies and moves to a quarantine
prefix, each pinned to the version of the object that matched (a replaced or deleted object is
`gone`, never acted on in its new content), and webhooks: a JSON POST whose headers come from
environment variables and go to the configured host only (redirects elsewhere are refused), with
a deadline however slowly the receiver answers.
"""
import os
from typing import Mapping, Optional, Tuple

from transforms.reasons import MediaError
from transforms.registry.http import FeedError, HttpSettings, send
from transforms.reports.actions import Due, destination, webhook_document
from transforms.storage.local import copy_local
from transforms.storage.objects import MediaObject, is_remote
from transforms.storage.stores import StoreError, StoreSettings, Stores, parse_location

WEBHOOK = HttpSettings(retries=2, first_wait_s=1.0, max_wait_s=10.0, timeout_s=10.0, deadline_s=30.0)


class Executors:
    """What acts: the store clients (opened on first use) and the webhook's settings."""

    def __init__(self, stores: Optional[StoreSettings] = None, webhook: HttpSettings = WEBHOOK,
                 environ: Mapping[str, str] = os.environ):
        self._stores = Stores(stores or StoreSettings())
        self._webhook = webhook
        self._environ = environ

    def run(self, item: Due) -> Tuple[str, str]:
        """(status, detail): done, gone (the object is no longer the version that matched), or
        failed (tried again by the next `act`), with a one-line detail."""
        try:
            return "done", self._act(item)
        except MediaError as e:
            return ("gone" if e.reason == "gone" else "failed"), e.detail
        except (FeedError, StoreError, ValueError, OSError) as e:
            return "failed", f"{type(e).__name__}: {e}"
        except Exception as e:  # a client library's own error: one line, and the other actions go on
            return "failed", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"

    def _act(self, item: Due) -> str:
        action, match = item.action, item.match
        obj = MediaObject(match["uri"], match.get("object_version") or "", 0)
        if action.kind == "webhook":
            headers = {"Content-Type": "application/json"}
            for header, variable in action.headers_env:
                if not self._environ.get(variable):
                    raise ValueError(f"the environment variable {variable} (header {header}) is not set")
                headers[header] = self._environ[variable]
            send("POST", action.target, headers, self._webhook, "webhook", webhook_document(item))
            return "posted"
        if action.kind == "tag":
            if not is_remote(obj.uri):
                raise ValueError("local files have no tags: tag S3 or GCS objects, or copy_to/move_to local ones")
            self._store(obj).tag(obj, dict(action.tags))
            return action.target
        target = destination(obj.uri, action.target)
        if is_remote(obj.uri):
            self._store(obj).copy(obj, target, remove=action.kind == "move_to")
            return target
        return copy_local(obj, target, remove=action.kind == "move_to")

    def _store(self, obj: MediaObject):
        return self._stores.get(parse_location(obj.uri).scheme)
