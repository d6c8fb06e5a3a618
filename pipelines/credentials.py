"""A feed's credentials, from its environment variable or a file: read by `sync` and `feedback`
(a module of its own so that `feedback` starts without the sync's imports). They are never
logged, written or put in an error message.
"""
import os
from typing import Optional, Tuple

from pipelines.config import UsageError
from transforms.registry.feeds import FEEDS


def credentials(source: str, path: Optional[str]) -> Tuple[str, ...]:
    feed = FEEDS[source]
    first, second, separator = feed.credentials_form
    where = path or f"${feed.credentials_env}"
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"credentials file {path} cannot be read: {type(e).__name__}") from None
    else:
        text = os.environ.get(feed.credentials_env, "").strip()
        if not text:
            raise UsageError(f"no {source} credentials: set {feed.credentials_env}={first}{separator}{second} "
                             "or give --credentials-file")
    parts = [p.strip() for p in text.split(separator, feed.credential_values - 1)]
    if len(parts) < 2 or not all(parts):
        raise UsageError(f"the {source} credentials in {where} are not of the form {first}{separator}{second}")
    return tuple(parts)  # a feed may take more values than two (StopNCII's SubmitFeedback key)
