"""The hash store: what the scan keeps of every object it hashed, so later runs need not read it again."""
