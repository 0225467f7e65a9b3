"""docs/python-api.md cannot rot: its python code blocks run, in order, as one script.

The blocks write a 4-second sample clip (engine.sample) into a temporary folder, then probe,
analyse, plan, render and enhance it, raise and map an error, and open the account services on a
throwaway SQLite database. A block that fails names itself and its first line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def code_blocks(text: str) -> list[str]:
    return FENCE.findall(text)


def test_the_doc_has_the_examples() -> None:
    code = "\n".join(code_blocks(DOC.read_text(encoding="utf-8")))
    for call in (
        "Settings.load(",
        "locate_ffmpeg(",
        "probe(",
        "analyze(",
        ".plan(",
        "render(",
        "enhance_file(",
        "exit_code_for(",
        "Core.open(",
    ):
        assert call in code, f"docs/python-api.md shows no {call}"


def test_code_blocks_are_found() -> None:
    sample = "text\n```python\nx = 1\n```\n\n```sh\nno\n```\n```python\ny = x\n```\n"
    assert code_blocks(sample) == ["x = 1\n", "y = x\n"]


@pytest.mark.slow
def test_the_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    server_extra = importlib.util.find_spec("sqlalchemy") is not None  # the last example needs [server]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # tempfile.mkdtemp() in the doc lands here
    monkeypatch.setattr("tempfile.tempdir", None)
    namespace: dict[str, object] = {"__name__": "python_api_doc"}
    blocks = code_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    for i, block in enumerate(blocks, 1):
        if "Core.open(" in block and not server_extra:
            continue
        first = block.strip().splitlines()[0]
        try:
            exec(compile(block, f"{DOC.name} block {i}", "exec"), namespace)  # our own doc
        except Exception as exc:
            raise AssertionError(f"docs/python-api.md, python block {i} ({first!r}) failed: {exc!r}") from exc
    assert namespace["result"].status == "enhanced"  # type: ignore[attr-defined]
    assert "core" in namespace or not server_extra
