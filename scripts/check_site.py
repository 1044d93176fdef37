"""The built book, tried as a reader sees it: headless Chromium on every page of ``_build/html``.

Serves the site on 127.0.0.1 (a random free port) and drives Debian's Chromium through Selenium, page by
page, with no network beyond the loopback. On each page it checks that

- every request the page makes goes to the local server and succeeds (no failed request, nothing
  fetched from elsewhere: the site must work offline);
- the browser console has no error;
- every image has loaded (non-zero natural width) and carries alt text;
- the math is rendered: every formula holds MathJax's output and no raw ``\\(``, ``\\[`` or ``$`` is left
  in the visible text outside code;
- the exercise solutions are hidden until their toggle is clicked, and shown after;
- each chapter offers its notebook for download (the link answers with the notebook) and a Colab launch
  link built from the repository named in ``_config.yml``;

then that the search page finds a known term, and it saves a screenshot of each page's first screen
under ``_build/screenshots/``. Exit status 1 when any check fails, with one line per failure.

Usage: ``python scripts/check_site.py [--site _build/html] [--out _build/screenshots] [--page NAME …]``
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
SEARCH_TERM, SEARCH_HIT = "induction", "induction"

# The visible text a page shows outside code, as the reader sees it.
VISIBLE_TEXT_JS = """
const clone = (document.querySelector('main') || document.body).cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .MathJax').forEach(e => e.remove());
document.body.appendChild(clone); clone.style.position = 'absolute'; clone.style.left = '-99999px';
const text = clone.innerText; clone.remove(); return text;
"""
IMAGES_JS = """
return [...document.querySelectorAll('main img, article img')].map(i => ({
  src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, alt: (i.getAttribute('alt') || '').trim()}));
"""
MATH_JS = """
const m = [...document.querySelectorAll('main span.math, main div.math')];
return {formulas: m.length, rendered: m.filter(e => e.querySelector('mjx-container')).length,
        containers: document.querySelectorAll('mjx-container').length};
"""
WAIT_MATH_JS = """
const done = arguments[arguments.length - 1];
if (!document.querySelector('span.math, div.math')) { done('no math'); return; }
const wait_s = arguments[0];
const deadline = Date.now() + 1000 * wait_s;
const poll = () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'), e => done('error: ' + e));
  } else if (Date.now() > deadline) { done(`error: MathJax did not load within ${wait_s} s`);
  } else { setTimeout(poll, 50); }
};
poll();
"""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests_seen: list[tuple[str, int]]


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet; every request is recorded instead
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.requests_seen.append((self.path, int(code) if str(code).isdigit() else 0))  # type: ignore[attr-defined]


def serve(site: Path) -> _Server:
    handler = functools.partial(_Handler, directory=str(site))
    server = _Server(("127.0.0.1", 0), handler)
    server.requests_seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def pages(site: Path, only: list[str]) -> list[str]:
    found = sorted(
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if not (set(p.relative_to(site).parts[:-1]) & SKIP_DIRS) and not p.name.startswith("_")
    )
    if only:
        found = [p for p in found if any(o in p for o in only)]
    return found


def browser(user_data: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={user_data}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(180)
    driver.set_script_timeout(180)
    return driver


def network_problems(entries: list[dict], origin: str) -> list[str]:
    """Failed requests and requests that leave the local server, from Chromium's performance log."""
    problems, urls = [], {}
    for entry in entries:
        msg = json.loads(entry["message"])["message"]
        method, params = msg.get("method", ""), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url.startswith(("http:", "https:")):  # the browser's own chrome:// pages are not the site's
                urls[params["requestId"]] = url
            if url.startswith(("http:", "https:", "ws:", "wss:")) and not url.startswith(origin):
                problems.append(f"request outside the site: {url}")
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status >= 400 and params["response"]["url"].startswith(origin):
                problems.append(f"HTTP {status}: {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled") and params["requestId"] in urls:
            problems.append(f"failed request ({params.get('errorText')}): {urls.get(params['requestId'], '?')}")
    return problems


def check_solutions(driver) -> tuple[int, list[str]]:
    """Every solution's body is hidden, shows after a click on its toggle, and hides again."""
    from selenium.webdriver.common.by import By

    problems = []
    solutions = driver.find_elements(By.CSS_SELECTOR, "main div.solution")
    for k, sol in enumerate(solutions):
        label = sol.get_attribute("id") or f"solution {k + 1}"
        body = [
            e for e in sol.find_elements(By.XPATH, "./*") if "admonition-title" not in (e.get_attribute("class") or "")
        ]
        body = [e for e in body if e.tag_name != "button"]
        if not body:
            problems.append(f"{label}: no body")
            continue
        if any(e.is_displayed() for e in body):
            problems.append(f"{label}: shown before any click")
        toggle = sol.find_elements(By.CSS_SELECTOR, "button.toggle-button") or sol.find_elements(
            By.CSS_SELECTOR, ".admonition-title"
        )
        if not toggle:
            problems.append(f"{label}: no toggle to click")
            continue
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", toggle[0])
        driver.execute_script("arguments[0].click();", toggle[0])
        deadline = time.time() + 10
        while time.time() < deadline and not all(e.is_displayed() for e in body):
            time.sleep(0.05)
        if not all(e.is_displayed() for e in body):
            problems.append(f"{label}: still hidden after a click")
    driver.execute_script("window.scrollTo(0, 0);")
    return len(solutions), problems


LINKS_JS = """
return [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '').filter(h => h.includes('.ipynb'));
"""
FETCH_JS = """
const done = arguments[arguments.length - 1];
const firstCode = t => JSON.parse(t).cells.find(c => c.cell_type === 'code').source;
fetch(arguments[0]).then(r => r.text().then(t => done([r.status, [].concat(firstCode(t)).join('')])))
  .catch(e => done([0, String(e)]));
"""


def colab_url(repository: dict, notebook: str) -> str:
    """The Colab launch link of one notebook (``book/NAME.ipynb``) of the repository in ``_config.yml``."""
    github = repository["url"].removeprefix("https://github.com/").strip("/")
    path = "/".join(p for p in (repository.get("path_to_book", "").strip("/"), notebook) if p)
    return f"https://colab.research.google.com/github/{github}/blob/{repository.get('branch', 'main')}/{path}"


def check_launch_links(driver, base: str, page: str, repository: dict, colab: bool = True) -> list[str]:
    """A chapter page links its notebook for download (served, a notebook) and to Colab (from the repository)."""
    notebook = page.removesuffix(".html") + ".ipynb"
    hrefs = driver.execute_script(LINKS_JS)
    problems = []
    if colab and colab_url(repository, notebook) not in hrefs:
        problems.append(f"no Colab link to {colab_url(repository, notebook)}")
    downloads = [h for h in hrefs if "_sources/" in h]
    if not downloads:
        return problems + ["no download link for the notebook"]
    status, text = driver.execute_async_script(FETCH_JS, downloads[0])
    if status != 200:
        problems.append(f"download link {downloads[0]} answered {status}")
    elif "import causal_tutorial" not in text:
        problems.append(f"download link {downloads[0]} is not the chapter's notebook")
    return problems


def check_page(
    driver,
    base: str,
    page: str,
    shots: Path,
    math_wait_s: float = 60,
    repository: dict | None = None,
    colab: bool = True,
) -> tuple[dict, list[str]]:
    driver.get_log("performance")  # drop what earlier pages left
    driver.get_log("browser")
    driver.get(f"{base}/{page}")
    math_state = driver.execute_async_script(WAIT_MATH_JS, math_wait_s)
    time.sleep(0.3)  # late image decodes and console messages
    problems: list[str] = []
    if str(math_state).startswith("error"):
        problems.append(f"MathJax: {math_state}")

    images = driver.execute_script(IMAGES_JS)
    for img in images:
        if not img["complete"] or img["width"] == 0:
            problems.append(f"image not loaded: {img['src']}")
        if not img["alt"]:
            problems.append(f"image without alt text: {img['src']}")

    math = driver.execute_script(MATH_JS)
    if math["rendered"] < math["formulas"]:
        problems.append(f"math: {math['formulas'] - math['rendered']} of {math['formulas']} formulas not rendered")
    text = driver.execute_script(VISIBLE_TEXT_JS)
    for raw in (r"\(", r"\[", "$"):
        if raw in text:
            at = text.index(raw)
            problems.append(f"raw {raw!r} in the visible text: …{text[max(0, at - 40) : at + 40]!r}…")

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", page.removesuffix(".html"))
    driver.save_screenshot(str(shots / f"{name}.png"))  # the first screen, as a reader arrives

    n_solutions, sol_problems = check_solutions(driver)
    problems += sol_problems
    if repository is not None:
        problems += check_launch_links(driver, base, page, repository, colab)

    console = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    problems += [f"console error: {e['message'][:300]}" for e in console]
    problems += network_problems(driver.get_log("performance"), base)
    row = {
        "page": page,
        "images": len(images),
        "formulas": math["formulas"],
        "solutions": n_solutions,
        "problems": len(problems),
    }
    return row, problems


def check_search(driver, base: str) -> list[str]:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/search.html?q={SEARCH_TERM}")
    deadline = time.time() + 60
    hits: list = []
    while time.time() < deadline and not hits:
        hits = driver.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
        time.sleep(0.2)
    if not hits:
        return [f"search: no result for {SEARCH_TERM!r}"]
    if not any(SEARCH_HIT in h.text.lower() for h in hits):
        return [f"search: {len(hits)} results for {SEARCH_TERM!r}, none mentions {SEARCH_HIT!r}"]
    print(f"search: {len(hits)} results for {SEARCH_TERM!r}")
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=Path("_build/html"))
    parser.add_argument("--out", type=Path, default=Path("_build/screenshots"))
    parser.add_argument("--page", action="append", default=[], help="only the pages whose path contains this")
    parser.add_argument("--config", type=Path, default=Path("_config.yml"), help="the book's configuration")
    parser.add_argument("--no-colab", action="store_true", help="expect no Colab link (the student edition)")
    args = parser.parse_args(argv)
    for need, what in ((args.site / "index.html", "a built book (make html)"), (Path(CHROMIUM), "Debian's chromium")):
        if not need.exists():
            print(f"check_site: {need} is missing: this check needs {what}", file=sys.stderr)
            return 2
    if not Path(CHROMEDRIVER).exists():
        print(f"check_site: {CHROMEDRIVER} is missing: install Debian's chromium-driver", file=sys.stderr)
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)

    import yaml

    repository = yaml.safe_load(args.config.read_text())["repository"]
    server = serve(args.site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    todo = pages(args.site, args.page)
    failures: list[str] = []
    rows = []
    with tempfile.TemporaryDirectory() as user_data:
        driver = browser(user_data)
        try:
            for page in todo:
                t0 = time.perf_counter()
                chapter = (args.site / "_sources" / page.removesuffix(".html")).with_suffix(".ipynb").exists()
                row, problems = check_page(
                    driver, base, page, args.out, repository=repository if chapter else None, colab=not args.no_colab
                )
                row["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
                failures += [f"{page}: {p}" for p in problems]
                print(
                    f"{page:45s} images {row['images']:3d}  formulas {row['formulas']:4d}  "
                    f"solutions {row['solutions']:2d}  {row['seconds']:5.1f} s  "
                    + ("ok" if not problems else f"{len(problems)} PROBLEMS")
                )
            if not args.page:
                failures += check_search(driver, base)
                # Browsers ask for /favicon.ico now and then (on pages that name no icon): it must be there.
                if not (args.site / "favicon.ico").is_file():
                    failures.append("no favicon.ico at the site root (browsers ask for it)")
        finally:
            driver.quit()
            server.shutdown()
    missing = sorted({path for path, code in server.requests_seen if code >= 400})
    failures += [f"server answered an error for {urlsplit(p).path}" for p in missing]
    (args.out / "report.json").write_text(json.dumps({"pages": rows, "failures": failures}, indent=1))
    print(
        f"{len(rows)} pages, {sum(r['formulas'] for r in rows)} formulas, {sum(r['images'] for r in rows)} images, "
        f"{sum(r['solutions'] for r in rows)} solutions; screenshots in {args.out}/"
    )
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
