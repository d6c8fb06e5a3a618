"""A short fuzzing campaign over the pure core (benchmarks/fuzz.py runs the long one): mutated
media of every container and mutated decode-time bombs give hashes or a MediaError, never another
exception, quickly, under a 3 GB address-space limit; mutated and hostile feed documents give a
page or a FeedError."""
from benchmarks.fuzz import run


def test_mutated_media_never_crash_hash_media():
    report = run(inputs=400, seed=11)
    assert "child_failed" not in report, report
    assert report["crashes"] == 0, report["crashes_seen"]
    assert report["inputs"] == 400 and report["hashed"] + report["media_error"] == 400
    assert report["slow"] == 0 and report["media_error"] > 0 and report["hashed"] > 0


def test_mutated_and_hostile_feeds_never_crash_the_parsers():
    report = run(inputs=3000, seed=12, feeds=True)
    assert "child_failed" not in report, report
    assert report["crashes"] == 0, report["crashes_seen"]
    assert report["inputs"] == 3000 and report["parsed"] + report["feed_error"] == 3000
    assert report["slow"] == 0 and report["parsed"] > 0 and report["feed_error"] > 0
