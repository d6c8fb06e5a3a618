"""takedown-scan's PTransforms and the pure functions they wrap, grouped by the stage an object
passes through (each package says what it holds):

    storage  -> media  -> matching -> reports
    (list, read) (sniff, decode, hash)  (against the registry)
    signals: one module per signal type (pdq, exact), used by media, registry and matching
    registry: snapshots; store: the hash store; reasons, schemas: shared by every stage

Imports go only downwards in this order: reasons; storage, signals; media, schemas; registry;
reports; store; matching (tests/test_layout.py checks it). The pure core (bytes in, hashes out;
hashes in, matches out) knows nothing of Beam and is tested directly; each DoFn around it only
handles setup, metrics and error tagging.
"""
