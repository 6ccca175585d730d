"""Reviewing a table's labels: a row is named by its id, to look up in the table."""


class TableReview:
    how = (
        "<p>A table's rows are named by their id: write your decisions to the corrections "
        "file (<code>paths.corrections</code>, columns <code>id,label</code>; the label "
        "<code>drop</code> removes the row), then <code>dvc exp run</code>: collect "
        "applies them.</p>"
    )

    def media(self, path: str) -> str:
        return "row"


PART = TableReview()
