"""The browser test (scripts/check_site.py) catches what it promises to catch: a tiny site with one of
each defect fails each check, and a clean page passes. Needs Debian's Chromium (installed by .ci/run);
skipped without it outside CI, an error in CI."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_site", ROOT / "scripts" / "check_site.py")
check_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_site)

HAVE_CHROMIUM = Path(check_site.CHROMIUM).exists() and Path(check_site.CHROMEDRIVER).exists()
needs_browser = pytest.mark.skipif(
    not HAVE_CHROMIUM and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _entry(method, **params):
    return {"message": json.dumps({"message": {"method": method, "params": params}})}


def test_network_problems_flags_outside_requests_failures_and_http_errors_only():
    origin = "http://127.0.0.1:8000"
    entries = [
        _entry("Network.requestWillBeSent", requestId="1", request={"url": f"{origin}/a.js"}),
        _entry("Network.requestWillBeSent", requestId="2", request={"url": "https://cdn.example.org/m.js"}),
        _entry("Network.requestWillBeSent", requestId="3", request={"url": "chrome://resources/x.js"}),
        _entry("Network.requestWillBeSent", requestId="4", request={"url": f"{origin}/gone.png"}),
        _entry("Network.responseReceived", requestId="4", response={"url": f"{origin}/gone.png", "status": 404}),
        _entry("Network.requestWillBeSent", requestId="5", request={"url": f"{origin}/b.css"}),
        _entry("Network.loadingFailed", requestId="5", errorText="net::ERR_FAILED"),
        _entry("Network.loadingFailed", requestId="3", errorText="net::ERR_FAILED"),
    ]
    problems = check_site.network_problems(entries, origin)
    assert problems == [
        "request outside the site: https://cdn.example.org/m.js",
        f"HTTP 404: {origin}/gone.png",
        f"failed request (net::ERR_FAILED): {origin}/b.css",
    ]


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "html"
    site.mkdir()
    (site / "dot.png").write_bytes(PNG_1PX)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'></head>"
        "<body><main>{}</main></body></html>"
    )
    (site / "index.html").write_text(page.format("<p>clean</p><img src='dot.png' alt='a dot'>"))
    (site / "broken.html").write_text(
        page.format(
            "<img src='missing.png' alt='gone'><img src='dot.png'>"
            "<p>raw \\(x^2\\) and $y$ left as TeX</p><span class='math'>\\(z\\)</span>"
            "<script>console.error('boom')</script>"
            "<div class='solution' id='sol-1'><p class='admonition-title'>Solution</p><p>shown at once</p></div>"
        )
    )
    return site


@needs_browser
def test_each_defect_is_caught_and_a_clean_page_passes(tmp_path):
    site = _site(tmp_path)
    shots = tmp_path / "shots"
    shots.mkdir()
    server = check_site.serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    driver = check_site.browser(str(tmp_path / "profile"))
    try:
        clean_row, clean = check_site.check_page(driver, base, "index.html", shots)
        row, problems = check_site.check_page(driver, base, "broken.html", shots, math_wait_s=2)
    finally:
        driver.quit()
        server.shutdown()
    assert clean == [], clean
    assert clean_row["images"] == 1
    text = "\n".join(problems)
    for expected in (
        "image not loaded: missing.png",
        "image without alt text: dot.png",
        "math: 1 of 1 formulas not rendered",
        "MathJax: error: MathJax did not load",
        "raw '\\\\(' in the visible text",
        "raw '$' in the visible text",
        "console error",
        "boom",
        "sol-1: shown before any click",
        "HTTP 404",
    ):
        assert expected in text, f"{expected!r} not reported; got:\n{text}"
    assert (shots / "broken.png").stat().st_size > 0 and (shots / "index.png").stat().st_size > 0


def test_the_colab_link_is_built_from_the_repository_of_the_config():
    import yaml

    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    owner_name = repository["url"].removeprefix("https://github.com/")
    assert check_site.colab_url(repository, "book/01_markov_chains.ipynb") == (
        f"https://colab.research.google.com/github/{owner_name}/blob/{repository['branch']}/book/01_markov_chains.ipynb"
    )
