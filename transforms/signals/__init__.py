"""Signal types, one module each (`pdq`, `exact`, `tmk`), each with the same `Signal` interface (base.py):
normalise and validate a value, build an index over many values, compare two values, and compute
it from decoded pictures or bytes. Everything else iterates over SIGNALS instead of naming types.
"""
from typing import Dict

from transforms.signals.base import Signal
from transforms.signals.exact import DIGESTS
from transforms.signals.pdq import PDQ
from transforms.signals.tmk import TMK_PDQF

SIGNALS: Dict[str, Signal] = {s.name: s for s in (PDQ, TMK_PDQF, *DIGESTS)}
