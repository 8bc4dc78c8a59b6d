"""The one place reports turn figures into PNG bytes and rows into CSV text (headless matplotlib)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["pyplot", "figure_png", "csv_text"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any) -> bytes:
    """``fig`` laid out tightly, as PNG bytes; the figure is closed."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def csv_text(rows: Sequence[Mapping[str, Any]], fieldnames: Sequence[str] | None = None) -> str:
    """``rows`` as CSV with a header: the columns ``fieldnames`` (others are left out), by default those of the
    first row; ``""`` for no rows and no ``fieldnames``."""
    if not rows and fieldnames is None:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames if fieldnames is not None else rows[0]),
                            extrasaction="raise" if fieldnames is None else "ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
