"""The read retry loop: what is retried, how often, and within which deadline."""
import time

import pytest

from transforms.storage.stores import StoreSettings, read_with_retries
from transforms.reasons import MediaError


class Flaky:
    """Fails `failures` times with `error`, then returns b'ok'."""

    def __init__(self, failures, error=ConnectionResetError("reset")):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return b"ok"


def read(call, **settings):
    transient = lambda e: isinstance(e, (ConnectionError, TimeoutError))
    gone = lambda e: isinstance(e, FileNotFoundError)
    return read_with_retries(call, StoreSettings(backoff_s=0.01, **settings), "s3://b/k", gone, transient)


def test_transient_failures_are_retried_until_they_pass():
    call = Flaky(3)
    assert read(call, attempts=4) == b"ok" and call.calls == 4


def test_retries_stop_after_the_attempts_with_an_unreadable_reason():
    call = Flaky(10)
    with pytest.raises(MediaError) as caught:
        read(call, attempts=3)
    assert call.calls == 3 and caught.value.reason == "unreadable" and "3 attempt(s)" in caught.value.detail


def test_retries_stop_at_the_object_deadline():
    call = Flaky(100, TimeoutError("slow"))
    start = time.monotonic()
    with pytest.raises(MediaError, match="unreadable"):
        read(call, attempts=100, object_timeout_s=0.2)
    assert time.monotonic() - start < 1.0 and call.calls < 100


@pytest.mark.parametrize("error, reason, calls", [(FileNotFoundError("404"), "gone", 1), (ValueError("bad"), "unreadable", 1)])
def test_gone_and_permanent_failures_are_not_retried(error, reason, calls):
    call = Flaky(5, error)
    with pytest.raises(MediaError) as caught:
        read(call, attempts=5)
    assert caught.value.reason == reason and call.calls == calls
