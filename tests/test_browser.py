"""End-to-end in a real browser: helm-server on loopback serves a small offline suite
summarized with our schema (the README's own helm-server line among them); headless Chromium
renders the scenario's page with our columns, and the group data helm-server serves carries
numbers for our metrics.

Skipped, with the reason, only where Chromium is not installed (.ci/run installs Debian's
`chromium`)."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from helm_efficiency.helm.schema import write_schema

from conftest import run_helm_command

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--virtual-time-budget=20000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_suite(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test needs it")
    work = tmp_path_factory.mktemp("browser")
    run = ["helm-run", "--run-entries", "synthetic_reasoning:mode=pattern_match,model=simple/model1,efficiency=true",
           "--suite", "b", "--max-eval-instances", "10", "-o", str(work / "out"), "--local-path", str(work / "prod_env")]
    assert subprocess.run(run, capture_output=True, cwd=work).returncode == 0
    write_schema(str(work / "schema.yaml"))
    summarize = ["helm-summarize", "--suite", "b", "-o", str(work / "out"), "--schema-path", str(work / "schema.yaml")]
    assert run_helm_command(summarize, cwd=work).returncode == 0
    server, base = serve(work, work / "out", "b")
    yield work, base
    server.kill()


def chromium(work, *args):
    return subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={work / 'chrome'}", *args], capture_output=True, text=True, timeout=120)


def test_group_page_renders_our_efficiency_group(served_suite):
    work, base = served_suite
    dom = chromium(work, "--dump-dom", f"{base}/#/groups/synthetic_reasoning").stdout
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    for header in ("Raw runtime (s)", "Denoised runtime (s)", "Idealized runtime (s)", "Idealized cost ($/1M req)"):  # shown whole
        assert header in text, header
    assert "Simple Model 1" in text
    screenshot = work / "helm_server.png"
    chromium(work, "--window-size=1400,900", f"--screenshot={screenshot}", f"{base}/#/groups/synthetic_reasoning")
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
    if os.environ.get("HELM_EFFICIENCY_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["HELM_EFFICIENCY_SCREENSHOT"])


def test_served_group_data_has_numbers_in_our_columns(served_suite):
    work, base = served_suite
    tables = json.load(urllib.request.urlopen(f"{base}/benchmark_output/runs/b/groups/synthetic_reasoning.json", timeout=10))
    [ours] = [t for t in tables if any(h["value"] == "Raw runtime (s)" for h in t["header"])]  # a scenario's page: one table, every group's columns
    headers = [h["value"] for h in ours["header"]]
    row = ours["rows"][0]
    values = {h: c.get("value") for h, c in zip(headers, row)}
    raw = values["Raw runtime (s)"]
    denoised = values["Denoised runtime (s)"]
    assert isinstance(raw, float) and raw > 0
    assert isinstance(denoised, float) and denoised > 0


CHROMEDRIVER = shutil.which("chromedriver")


def click_tab_and_read_numbers(work, url: str, tab_name: str, first_column: str):
    """A person's path: open a group page, click a metric-group tab (helm-server shows tabs when
    a group page has several tables; one table shows every column at once), find the table
    with `first_column`, read its first row's numbers."""
    if CHROMEDRIVER is None:
        pytest.skip("chromedriver is not installed (apt-get install chromium-driver); the click test needs it")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", f"--user-data-dir={work / 'selenium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # no Selenium Manager download
    try:
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.TAG_NAME, "table"))
        tabs = driver.find_elements(By.XPATH, f"//*[contains(@class, 'tab') and normalize-space(text())='{tab_name}']")
        if tabs:
            WebDriverWait(driver, 30).until(expected_conditions.element_to_be_clickable(tabs[0])).click()

        def table_with_column(d):
            return next((t for t in d.find_elements(By.TAG_NAME, "table") if first_column in t.get_attribute("textContent")), False)

        table = WebDriverWait(driver, 30).until(table_with_column)
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        cells = [c.text.strip() for c in rows[0].find_elements(By.TAG_NAME, "td")]
        return cells, [float(c) for c in cells[1:] if re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)]
    finally:
        driver.quit()


def test_clicking_our_tab_in_helm_server_shows_our_numbers(served_suite):
    work, base = served_suite
    cells, numbers = click_tab_and_read_numbers(work, f"{base}/#/groups/synthetic_reasoning", "Efficiency (helm-efficiency)", "Raw runtime")
    assert cells[0].startswith("Simple Model 1")
    assert numbers, cells


def serve(work, output, suite):
    port = free_port()
    server = subprocess.Popen(["helm-server", "-p", str(port), "-o", str(output), "--suite", suite],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    base = f"http://127.0.0.1:{port}"
    for _ in range(60):
        try:
            urllib.request.urlopen(base, timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    return server, base


def group_values(base: str, suite: str, group: str, title_word: str = "") -> dict:
    """{column header: first row's value} of the group's tables that helm-server serves."""
    tables = json.load(urllib.request.urlopen(f"{base}/benchmark_output/runs/{suite}/groups/{group}.json", timeout=10))
    values = {}
    for table in tables:
        if title_word in table["title"]:
            values.update({h["value"]: c.get("value") for h, c in zip(table["header"], table["rows"][0])})
    return values


def test_plain_helm_summarize_shows_our_numbers_in_helms_columns(served_suite):
    """No plugin, no schema flag: HELM's bundled schema_classic.yaml and its "Efficiency" group,
    whose denoised and idealized columns HELM leaves empty today, carry our numbers."""
    work, _ = served_suite
    plain = work / "plain"
    shutil.copytree(work / "out", plain)
    assert run_helm_command(["helm-summarize", "--suite", "b", "-o", str(plain)], cwd=work).returncode == 0
    server, base = serve(work, plain, "b")
    try:
        values = group_values(base, "b", "reasoning", "Efficiency")
        denoised = [v for h, v in values.items() if h.endswith("Denoised inference time (s)")]
        assert denoised and isinstance(denoised[0], float) and denoised[0] > 0, values
        cells, numbers = click_tab_and_read_numbers(work, f"{base}/#/groups/synthetic_reasoning", "Efficiency", "Denoised inference")
        assert numbers, cells
    finally:
        server.kill()


README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_lines(*starts: str) -> list:
    """The README's code lines beginning with each of `starts`, in order (comments after '#' dropped)."""
    lines = [line.split("  #")[0].strip() for line in open(README) if not line.startswith(("#", " "))]
    return [next(line for line in lines if line.startswith(start)) for start in starts]


@pytest.fixture(scope="module")
def readme_site(tmp_path_factory):
    """The README's first-use lines, verbatim, in a fresh folder: its helm-run line for suite t,
    then its schema + helm-summarize line; helm-server started with the README's arguments (and a free port)."""
    work = tmp_path_factory.mktemp("readme_site")
    run, site = readme_lines("helm-run --run-entries \"synthetic_reasoning", "helm-efficiency schema")
    assert "--suite t" in run and "helm-server --suite t" in site
    summarize, server_args = site.split(" && helm-server ")
    for command in (run, summarize):
        done = run_helm_command(["bash", "-c", command], text=True, cwd=work)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    port = free_port()
    server = subprocess.Popen(["helm-server", *server_args.split(), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    base = f"http://127.0.0.1:{port}"
    for _ in range(60):
        try:
            urllib.request.urlopen(base, timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    yield work, base, summarize
    server.kill()


def test_readme_helm_server_line_gives_group_pages_with_our_numbers(readme_site):
    """No browser needed: the group pages exist, and the scenario's page shows every column of our
    group under a whole, distinct header (helm-server cuts headers over 30 characters) with our numbers."""
    from helm_efficiency.helm.metric_names import SCHEMA_GROUP_STATS

    work, base, _ = readme_site
    assert os.listdir(work / "benchmark_output" / "runs" / "t" / "groups")
    tables = json.load(urllib.request.urlopen(f"{base}/benchmark_output/runs/t/groups/synthetic_reasoning.json", timeout=10))
    [table] = [t for t in tables if any(h["value"] == "Raw runtime (s)" for h in t["header"])]
    values = {h["value"]: c.get("value") for h, c in zip(table["header"], table["rows"][0])}
    from helm_efficiency.report.uncertainty_stats import STAT_NAMES

    headers = [s.short_display_name or s.display_name for s in SCHEMA_GROUP_STATS]
    assert all(len(h) <= 30 for h in headers) and len(set(headers)) == len(headers), headers
    # `helm-efficiency leaderboard --write-stats` writes the board's intervals; a plain run has the rest.
    ours = [s.short_display_name or s.display_name for s in SCHEMA_GROUP_STATS if s.name not in STAT_NAMES.values()]
    assert set(ours) <= set(values), sorted(values)
    assert values["Raw runtime (s)"] > 0 and values["Denoised runtime (s)"] > 0, values
    # The page that gathers several scenarios leaves our tab out (its headers would be cut to the scenario's name).
    reasoning = json.load(urllib.request.urlopen(f"{base}/benchmark_output/runs/t/groups/reasoning.json", timeout=10))
    assert "Efficiency (helm-efficiency)" not in [t["title"] for t in reasoning]


def test_readme_helm_server_line_in_a_browser(readme_site):
    """In Chromium: the home page lists scenarios, and clicking our tab on the scenario's page shows our numbers."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test needs it")
    work, base, _ = readme_site
    home = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", chromium(work, "--dump-dom", f"{base}/#/groups").stdout))
    assert "Targeted evaluations" in home, home[:2000]  # the group holding synthetic_reasoning is listed
    cells, numbers = click_tab_and_read_numbers(work, f"{base}/#/groups/synthetic_reasoning", "Efficiency (helm-efficiency)", "Raw runtime")
    assert cells[0].startswith("Simple Model 1") and numbers, cells


def test_a_real_suite_rescored_shows_our_tab(tmp_path_factory):
    """HELM Safety v4 as published (tests/data/wild): rescore, our schema on HELM's safety schema,
    helm-summarize, helm-server; the BBQ page has our tab with measured numbers."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test needs it")
    from helm_efficiency.rescore import rescore_suite

    work = tmp_path_factory.mktemp("wild_browser")
    shutil.copytree(os.path.join(os.path.dirname(__file__), "data", "wild", "helm_safety_v4", "benchmark_output"), work / "out")
    rescore_suite(str(work / "out" / "runs" / "v4"), progress=False)
    write_schema(str(work / "schema.yaml"), "safety")
    summarize = ["helm-summarize", "--suite", "v4", "-o", str(work / "out"), "--schema-path", str(work / "schema.yaml")]
    assert run_helm_command(summarize, cwd=work).returncode == 0
    server, base = serve(work, work / "out", "v4")
    try:
        values = group_values(base, "v4", "bbq")
        assert isinstance(values.get("Raw runtime (s)"), float) and values["Raw runtime (s)"] > 0, values
        cells, numbers = click_tab_and_read_numbers(work, f"{base}/#/groups/bbq", "Efficiency (helm-efficiency)", "Raw runtime")
        assert numbers, cells
    finally:
        server.kill()
