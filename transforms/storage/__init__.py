"""Stage 1, where objects come from: listing (local folders, GCS, S3, bucket inventories), each
object's version, and reading its bytes (pinned to that version, retried, under a size cap)."""
