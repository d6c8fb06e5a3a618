"""takedown-scan's jobs: one module per job, each an options class, `build` and `main`."""
