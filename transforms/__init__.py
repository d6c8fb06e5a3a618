"""takedown-scan's PTransforms and the pure functions they wrap, one concern a module.

The pure core (bytes in, hashes out; hashes in, matches out) knows nothing of Beam and is tested
directly; each DoFn around it only handles setup, metrics and error tagging.
"""
