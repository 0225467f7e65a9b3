"""The service markers (issue 15) are applied from what a test uses, so that a machine without
PostgreSQL, Redis, S3 or a browser can deselect those tests: `pytest -m "not slow and not browser"`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("postgres", "s3", "redis", "browser")

PLUGIN = """
import json

def pytest_collection_finish(session):
    marks = {item.nodeid: sorted({m.name for m in item.iter_markers()}) for item in session.items}
    print("MARKS " + json.dumps(marks))
"""


def test_each_service_marker_selects_the_tests_that_use_the_service(tmp_path: Path) -> None:
    (tmp_path / "show_marks.py").write_text(PLUGIN)
    files = (
        "tests/server/test_schema.py",
        "tests/server/test_web.py",
        "tests/server/test_media_api.py",
        "tests/server/test_jobs_api.py",
        "tests/server/test_jobs_core.py",
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "show_marks",
            "--collect-only",
            "-q",
            *files,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("MARKS "))
    marks: dict[str, list[str]] = json.loads(line[len("MARKS ") :])
    by = {s: [t for t, m in marks.items() if s in m] for s in SERVICES}
    assert by["postgres"] and all("postgresql" in t for t in by["postgres"]), by["postgres"]
    assert by["s3"] and all("s3" in t.split("[", 1)[-1] for t in by["s3"]), by["s3"]
    assert by["redis"] and all("redis" in t for t in by["redis"]), by["redis"]
    assert by["browser"] and all(t.startswith("tests/server/test_web.py") for t in by["browser"]), by["browser"]
    rest = [t for t, m in marks.items() if not set(m) & set(SERVICES)]
    # what needs no service keeps running: the SQLite, local-disk and embedded-queue variants
    assert all("postgresql" not in t and "-s3" not in t and "[s3" not in t for t in rest)
    assert any("sqlite" in t for t in rest) and any("local" in t for t in rest) and any("embedded" in t for t in rest)
