"""Reviewing a table's labels: a row is named by its id, to look up in the table."""


class TableReview:
    how = (
        "<p>A table's rows are named by their id: correct the label in your table "
        "(collect does not apply corrections to table rows yet), then <code>dvc exp run</code>."
    )

    def media(self, path: str) -> str:
        return "row"


PART = TableReview()
