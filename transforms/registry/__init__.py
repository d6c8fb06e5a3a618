"""The registry side: finding the latest complete snapshot version and reading it (snapshots.py),
validating its rows into arrays (rows.py), one mapped copy per machine (cache.py), what changed
between versions (changes.py), and the feeds' clients and version writer that `sync` uses."""
