"""Hashes against the registry: the per-signal indexes a worker builds once, the video rules, and
the match rows."""
