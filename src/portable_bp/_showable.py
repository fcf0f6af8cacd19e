"""matplotlib's Figure that a notebook shows as the value of a cell (imported by ``plots`` only once
matplotlib is known to be there; a module-level class, so the figures still pickle)."""

import io

from matplotlib.figure import Figure


class ShowableFigure(Figure):
    """A Figure with ``_repr_png_``: Jupyter displays it inline with or without pyplot's inline backend
    (which, when active, formats it itself: one image either way)."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()
