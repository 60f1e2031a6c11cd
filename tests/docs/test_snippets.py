"""Every Python block of the documentation marked ``<!-- run -->`` runs without error.

The marked blocks of one page run in order, as one script, in a fresh process whose working
directory is a temporary directory and whose broker is a private embedded one (``KARABO_BROKER``),
so pages can build on their earlier blocks and never meet another test's devices.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
MARK = "<!-- run -->"
_BLOCK = re.compile(r"^<!-- run -->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def runnable_blocks(text: str) -> list[str]:
    """The code of every ```python block directly preceded by the run marker."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def pages_with_snippets() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if MARK in p.read_text(encoding="utf-8"))


def test_markers_are_followed_by_python_blocks():
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert text.count(MARK) == len(runnable_blocks(text)), f"{page}: a run marker not followed by ```python"


def test_every_tutorial_is_tested():
    tested = {p.name for p in pages_with_snippets()}
    for tutorial in (DOCS / "tutorials").glob("*.md"):
        assert tutorial.name in tested, f"{tutorial} has no runnable block"


@pytest.mark.parametrize("page", pages_with_snippets(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_snippets_run(page, tmp_path):
    from pykarabo.net.broker.embedded import privateEmbeddedUrl

    code = "\n\n".join(runnable_blocks(page.read_text(encoding="utf-8")))
    script = tmp_path / "snippets.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "KARABO_BROKER": privateEmbeddedUrl(),
           "KARABO_BROKER_TOPIC": f"docs{os.getpid()}_{page.stem.replace('-', '_')}"}
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stderr, f"{page}:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
