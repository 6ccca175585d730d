"""The HTML report: self-contained, and what a person sees in a real browser."""

import re
import shutil
import subprocess
import time

import pytest

from tests.monitor.test_logging import post_all, wait_rows
from tests.serve.conftest import MLCYCLE, serving, split_files


def chromium() -> str:
    """Debian's Chromium, installed here when missing and allowed; else the test skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            capture_output=True,
            timeout=600,
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("headless Chromium not found and not installable (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def report(learnt, tmp_path_factory):
    """A monitoring report over real traffic: good clips, quiet clips, empty uploads."""
    folder = learnt("keywords")
    out = tmp_path_factory.mktemp("report")
    store = f"sqlite:///{out}/log.db"
    clips = [(p.read_bytes(), "audio/wav") for p in split_files(folder, "test", 60)]
    with serving(folder, f"monitor.store={store}", "monitor.flush_s=0.2", token=None) as server:
        post_all(server, clips + [(b"", "audio/wav")] * 10)
        wait_rows(store, 70)
    time.sleep(0.5)
    done = subprocess.run(
        [
            MLCYCLE,
            "monitor",
            f"monitor.store={store}",
            f"paths.monitoring.html={out}/r.html",
            f"paths.monitoring.json={out}/r.json",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    return out / "r.html"


def test_report_is_self_contained(report):
    html = report.read_text()
    fetched = re.findall(r"""(?:src|href)\s*=\s*["'](?!#|data:)([^"']+)""", html)
    assert fetched == [], fetched  # nothing to load from anywhere: it opens offline
    assert html.count("<svg") >= 8 and "missing_inputs" in html


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = chromium()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path}/u",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Model " in dom.stdout and "<svg" in dom.stdout and "Drift against" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000  # a page, not a blank
