"""What every load result shares: the two modes, and the error for a results.json this version cannot read.

Apart from `load_results` so that the probes' results, which `LoadResults` holds, need
not import it back.
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["sse", "ws"]
MODES: tuple[Mode, ...] = ("sse", "ws")


class ResultsFormatError(ValueError):
    """A results.json that this version cannot read (wrong schema version or shape)."""
