"""The HTML pages of ``make course`` typeset their equations offline, in a real browser.

``course.render_html`` points each page at a copy of MathJax beside it (``vendor_mathjax``). This
test renders a small notebook, opens the page from disk in headless Chromium with every network
request refused, and checks that MathJax turned the TeX into typeset math. With nbconvert's
default (MathJax from a CDN) the same page shows raw ``$\\alpha$`` offline, so the test fails.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from medgen_nb.course import MATHJAX_FOLDER, render_html

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no Chromium found: install Debian's `chromium` package", allow_module_level=True)

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _page_with_math(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "The KL term $D_{KL}(q \\| p) = \\frac{1}{2}\\sum_j (\\mu_j^2 + \\sigma_j^2 - 1)$ and\n\n"
            "$$\\mathcal{L} = \\mathbb{E}_q[\\log p(x \\mid z)] - \\beta\\, D_{KL}$$"
        ),
        nbformat.v4.new_code_cell("1 + 1", execution_count=1),
    ]
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    return render_html(path)


def test_the_rendered_page_loads_mathjax_from_its_own_folder(tmp_path):
    html = _page_with_math(tmp_path).read_text(encoding="utf-8")
    assert f'src="{MATHJAX_FOLDER}/MathJax.js?config=' in html
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in html
    assert (tmp_path / MATHJAX_FOLDER / "MathJax.js").is_file()


def test_equations_typeset_with_the_network_closed(tmp_path):
    page_path = _page_with_math(tmp_path)
    refused = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()

            def route(r):  # anything not on disk is refused: the page must render offline
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    refused.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(page_path.as_uri())
            page.wait_for_function(
                "window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                "&& document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_SVG').length >= 2",
                timeout=60_000,
            )
            text = page.inner_text("body")
            jax = page.evaluate("MathJax.Hub.getAllJax().map(j => j.originalText)")
        finally:
            browser.close()
    assert any("D_{KL}" in t for t in jax) and any("mathcal{L}" in t for t in jax), jax
    assert "$D_{KL}" not in text and "\\frac" not in text, "raw TeX left on the page"
    # The only remote request the template makes is require.js (for live widgets, none here).
    assert all("mathjax" not in url.lower() for url in refused), refused
