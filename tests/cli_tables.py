"""Checks shared by the table tests: ids, names and paths are never broken across lines."""

from __future__ import annotations

import re

# a terminal 80 columns wide without colours (Rich reads these), and a pipe
TERMINAL_80 = {"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"}
PIPE_80 = {"COLUMNS": "80", "TTY_COMPATIBLE": "0"}


def assert_plain(text: str, *whole: str) -> None:
    """Off a terminal: no box drawing, and every id/name/path whole on one line."""
    assert not re.search(r"[┏┃━│─┡┩└┘╭╰]", text), f"box drawing in piped output:\n{text}"
    lines = text.splitlines()
    for value in whole:
        assert any(value in line for line in lines), f"{value!r} is not whole on one line:\n{text}"


def assert_terminal(text: str, ids: tuple[str, ...] = (), names: tuple[str, ...] = ()) -> None:
    """On an 80-column terminal: no line over 80; an id shows its first 8 characters and nothing of
    the rest on another line; a name is whole, or cut once with "…", never continued on a next line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # bold and italic stay on without colours
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, f"lines over 80 columns: {wide}"
    for ident in ids:
        assert ident[:8] in text, f"{ident[:8]} missing:\n{text}"
        tail = ident.replace("-", "")[8:]
        assert not any(
            tail[i : i + 6] in re.sub(r"[^0-9a-f]", "", line)
            for line in text.splitlines()
            for i in range(0, len(tail) - 5)
        ), f"rest of {ident} shown (wrapped?):\n{text}"
    for name in names:
        starts = [m.start() for m in re.finditer(re.escape(name[:8]), text)]
        assert starts, f"{name} missing:\n{text}"
        for at in starts:
            shown = text[at : at + len(name)]
            cut = shown.split("…")[0]
            assert shown == name or ("…" in shown and name.startswith(cut)), (
                f"{name} broken mid-word as {shown!r}:\n{text}"
            )
