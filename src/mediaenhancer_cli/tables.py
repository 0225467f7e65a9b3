"""Tables that keep ids, names and paths whole, on a terminal and in a pipe.

On a terminal (Rich): an id column shows the first 8 characters (git-style; every command that
takes an id accepts a unique prefix back), names and paths never wrap (a long one ends in "…"),
only prose folds. Off a terminal (piped, in a CI log): plain and stable, one tab-separated line
per row with full ids and full paths, no box, no colour, no header; the title, if any, is a line
of its own. `--json` stays the machine format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["SHORT_ID", "Col", "plain_lines", "print_table", "show"]

SHORT_ID = 8  # characters of an id shown on a terminal


@dataclass(frozen=True)
class Col:
    name: str
    kind: Literal["id", "name", "text", "num"] = "text"  # name: a file name or path


def print_table(
    console: Console, columns: Sequence[Col], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """Rows of plain strings (no Rich markup) under ``columns``."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not console.is_terminal:  # a tab or newline inside a cell would break the row
        _write(console, ([title] if title else []) + ["\t".join(_flat(c) for c in row).rstrip() for row in cells])
        return
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    # no box: two spaces between columns leave the room to ids and names (as `gh` and `docker ps` do)
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for i, col in enumerate(columns):
        if col.kind == "id":
            table.add_column(col.name, no_wrap=True, overflow="crop", max_width=SHORT_ID, min_width=SHORT_ID)
        elif col.kind == "name":
            # the one elastic column: what the others need (prose may fold to 16) is not its to take
            others = sum(_natural(columns, cells, j) + 2 for j in range(len(columns)) if j != i)
            table.add_column(
                col.name,
                no_wrap=True,
                overflow="ellipsis",
                min_width=min(10, len(col.name) + 6),
                max_width=max(10, console.width - others),
            )
        elif col.kind == "num":
            table.add_column(col.name, justify="right", no_wrap=True)
        else:
            table.add_column(col.name, overflow="fold", min_width=min(_natural(columns, cells, i), 10))
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def _natural(columns: Sequence[Col], rows: list[list[str]], j: int) -> int:
    col = columns[j]
    if col.kind == "id":
        return SHORT_ID
    width = max([len(col.name), *(len(row[j]) for row in rows)])
    return min(width, 16) if col.kind in ("text", "name") else width


def show(console: Console, table: Table) -> None:
    """Print a Rich table built elsewhere: as is on a terminal, as plain lines off one."""
    if console.is_terminal:
        console.print(table)
    else:
        _write(console, plain_lines(table))


def plain_lines(table: Table) -> list[str]:
    """A Rich table as tab-separated lines of its cells' text (markup removed), title first."""
    from rich.text import Text  # noqa: PLC0415

    def text(cell: Any) -> str:
        if isinstance(cell, Text):
            return cell.plain
        if isinstance(cell, str):
            return Text.from_markup(cell).plain
        return str(cell)

    lines = [text(table.title)] if table.title else []
    for row in zip(*(list(col.cells) for col in table.columns), strict=True):
        cells = [_flat(text(c)) for c in row]
        if any(cells):
            lines.append("\t".join(cells).rstrip())
    return lines


def _flat(cell: str) -> str:
    return cell.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _write(console: Console, lines: list[str]) -> None:
    console.file.write("".join(line + "\n" for line in lines))
    console.file.flush()
