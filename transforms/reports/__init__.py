"""What the teams read: Parquet report folders (matches, errors, rejects) and summary.json."""
