"""The HTML reports in a real browser (headless Chromium from the OS packages, driven
through ChromeDriver): every plot decodes, the page fits its window, the tables come
after the plots, and a screenshot shows a page, not a blank."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("chromium")


def _check_page(browser, html: Path, shots: Path) -> None:
    browser.get(html.as_uri())
    imgs = browser.find_elements("tag name", "img")
    pngs = sorted(p.name for p in html.parent.glob("*.png"))
    assert len(imgs) == len(pngs) >= 3
    # every embedded plot decoded by the browser, at a readable size
    sizes = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
        "i.naturalHeight, i.getBoundingClientRect().width]);")
    for complete, w, h, shown in sizes:
        assert complete and w > 400 and h > 200 and shown > 400, sizes
    # the page fits the window: no sideways scrolling
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;")
    # the tables come after the plots
    assert browser.execute_script(
        "const img = document.images[document.images.length - 1];"
        "return Array.from(document.querySelectorAll('table')).every("
        "t => img.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING);")
    import matplotlib.image as mpimg

    shot = browser.get_screenshot_as_png()
    (shots / f"{html.parent.parent.name}.png").write_bytes(shot)
    px = mpimg.imread(io.BytesIO(shot), format="png")
    assert px.shape[1] >= 1200 and float(np.std(px[..., :3])) > 0.05  # not a blank page


def test_a_run_report_renders_in_chromium(browser, tmp_path):
    run = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "hil.cli", "sim", "final-approach", "--out",
                    str(run)], check=True, capture_output=True, timeout=300)
    from hil.campaigns.report import write_report

    _check_page(browser, write_report(run), tmp_path)
    assert "Approach trajectory" in browser.page_source
    assert browser.title.startswith("flightsw run report: final-approach")


def test_a_monte_carlo_report_renders_in_chromium(browser, tmp_path):
    from hil.campaigns.montecarlo import run_montecarlo
    from hil.campaigns.report import write_report

    run_montecarlo("final-approach", 6, tmp_path / "mc", workers=1, progress=False)
    _check_page(browser, write_report(tmp_path / "mc"), tmp_path)
    assert browser.title.startswith("flightsw Monte Carlo report: final-approach (6 runs)")
