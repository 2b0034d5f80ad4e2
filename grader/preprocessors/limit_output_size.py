"""LimitOutputSize: nbgrader's LimitOutput, which counts lines, plus a limit in characters."""

from __future__ import annotations

from nbgrader.preprocessors import LimitOutput
from traitlets import Integer


class LimitOutputSize(LimitOutput):
    """nbgrader's LimitOutput, plus at most ``max_chars`` characters of printed text per cell.

    Keeps feedback readable when a submission prints without end: one enormous line (``print("x" * 10**7)``) passes
    a limit in lines.
    """

    max_chars = Integer(50_000, help="maximum characters of stream output per cell (-1 means no limit)").tag(
        config=True
    )

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code" and self.max_chars >= 0:
            budget = self.max_chars
            for output in cell.outputs:
                if output.output_type == "stream":
                    if len(output.text) > budget:
                        output.text = output.text[:budget] + "\n... Output truncated (too many characters) ..."
                    budget = max(0, budget - len(output.text))
        return cell, resources
