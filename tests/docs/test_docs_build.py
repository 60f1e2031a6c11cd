"""The documentation builds with ``mkdocs build --strict`` (broken internal links and missing pages fail).

External links are not checked: the tests run offline.  The pages keep them few.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for page in ("index.html", "migration/index.html", "reference/cli/index.html",
                 "tutorials/bound-device/index.html", "concepts/hash/index.html"):
        assert (tmp_path / "site" / page).exists(), page


def test_every_page_is_in_the_nav():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    missing = [p for p in pages if p.replace(os.sep, "/") not in text]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"
