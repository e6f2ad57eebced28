"""CSV cells a spreadsheet will not run: the one rule for every CSV the project writes.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as
a formula by Excel, LibreOffice and Google Sheets; a post's ``=HYPERLINK(...)`` becomes a
link that can leak the sheet's data when an analyst opens the file (OWASP "CSV
injection"). Text cells that start so get a leading ``'``, which the spreadsheet shows as
text and does not display. Numbers we computed (a negative trend) stay numbers.

Only CSV needs this: JSON, JSONL and Parquet keep text exactly. A CSV the project reads
back (a scored file given to ``radar report``) drops the ``'`` again with
:func:`from_spreadsheet`, so its rows mean what the JSONL or Parquet rows mean.
"""

from __future__ import annotations

# Cells starting with one of these run as formulas (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'``; any other value (numbers included, so a negative number stays a
    number) is returned as it is.

    Args:
        value: the cell as it would be written.

    Returns:
        The cell to write.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


def from_spreadsheet(value: object) -> object:
    """A cell of a CSV this project wrote, as it was before :func:`spreadsheet_safe`.

    Drops the ``'`` in front of a formula start; anything else is returned as it is. Text
    that itself began with ``'`` and then a formula start reads back without its ``'`` (the
    one value the rule cannot tell apart).
    """
    if (isinstance(value, str) and value.startswith(QUOTE)
            and value[1:].startswith(FORMULA_STARTS)):
        return value[1:]
    return value
