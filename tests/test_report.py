"""`snakemake --report` on the finished test run, rendered by a real (headless) browser.

Why: the report is a JavaScript (React) application; a file that exists can still show
nothing. The report is opened in Debian's headless chromium; a small probe script
appended to a copy of the page waits for the report's own ``app`` object, asks it to
display the comparison plot exactly as the result's "view" button does
(``app.setView({content: "img", ...})``), and records the decoded image size on
``<body>``; ``--dump-dom`` returns the DOM after the scripts ran.

Snakemake writes a self-contained ``.html`` for small reports and requires ``.zip`` for
large ones; both are handled (the zip is extracted and its ``report.html`` opened).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import run_snakemake

pytestmark = pytest.mark.slow

CONFIG = ("--configfile", "config/test.yaml")
#: The KD-vs-solo comparison plot of rules/compare.smk (report category "Distillation").
PLOT = "accuracy_vs_temperature.png"
OTHER_PLOTS = (
    "accuracy_vs_alpha.png",
    "agreement_vs_accuracy.png",
    "roc_teacher_solo_kd.png",
    "frontier.png",
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=20000",
)

PROBE = """<script>
/* jetdistill test probe: show one result through the report's own UI state. */
(function () {
  var target = %(target)s;
  var path = Object.keys(results).find(function (p) { return p === target || p.endsWith("/" + target); });
  var mark = function (k, v) { document.body.setAttribute("data-jd-" + k, v); };
  mark("result", path || "missing");
  if (!path) return;
  var uri = results[path].data_uri, tries = 0, shown = false;
  (function poll() {
    if (tries++ > 300) { mark("plot", shown ? "not-rendered" : "no-app"); return; }
    if (!shown) {
      if (typeof app === "undefined" || !app) { setTimeout(poll, 50); return; }
      app.setView({content: "img", contentPath: uri, resultPath: path});
      shown = true;
    }
    var img = Array.prototype.find.call(document.querySelectorAll("#app img"),
                                        function (i) { return i.getAttribute("src") === uri; });
    if (img && img.complete && img.naturalWidth > 0) {
      mark("plot", img.naturalWidth + "x" + img.naturalHeight); return;
    }
    setTimeout(poll, 50);
  })();
})();
</script>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def build_report(work: Path, out_dir: Path) -> tuple[Path, bool]:
    """Run ``snakemake --report``; return the report.html to open and whether it came from a zip."""
    html = out_dir / "report.html"
    proc = run_snakemake(work, *CONFIG, "--report", str(html), check=False, timeout=900)
    if proc.returncode == 0 and html.exists():
        return html, False
    text = proc.stdout + proc.stderr
    assert ".zip" in text, f"snakemake --report failed:\n{text[-6000:]}"
    zpath = out_dir / "report.zip"
    run_snakemake(work, *CONFIG, "--report", str(zpath), timeout=900)
    with zipfile.ZipFile(zpath) as z:
        z.extractall(out_dir / "zip")
    found = sorted((out_dir / "zip").rglob("report.html"))
    assert found, f"no report.html inside {zpath}"
    return found[0], True


def render(chromium: str, page: Path, profile_dir: Path) -> str:
    """The DOM of ``page`` after its scripts ran (chromium --dump-dom)."""
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile_dir}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "HOME": str(profile_dir)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@pytest.fixture(scope="module")
def report(e2e_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    return build_report(e2e_workdir, tmp_path_factory.mktemp("report"))


def test_report_embeds_the_comparison_plots(report: tuple[Path, bool]):
    page, from_zip = report
    text = page.read_text(errors="replace")
    m = re.search(r"var categories = (\{.*?\});", text)
    assert m, "no categories in the report"
    assert "Distillation" in m.group(1) and "Compression" in m.group(1), m.group(1)[:500]
    for name in (PLOT, *OTHER_PLOTS):
        assert name in m.group(1), f"{name} not listed in the report's categories"
    if not from_zip:
        # self-contained report: the PNG itself is embedded as a data URI
        assert re.search(
            rf"data:image/png;[^\"]*filename={re.escape(PLOT)};base64,iVBORw0KGgo", text
        )


def test_comparison_plot_renders_in_headless_chromium(report: tuple[Path, bool], tmp_path: Path):
    page, _ = report
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
            pytest.fail("CI=true but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    probe = page.with_name("report_probe.html")
    html = page.read_text(errors="replace")
    cut = html.rfind("</body>")
    assert cut > 0
    probe.write_text(html[:cut] + PROBE % {"target": repr(PLOT).replace("'", '"')} + html[cut:])
    dom = render(chromium, probe, tmp_path / "chromium")
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:2000]
    attrs = dict(re.findall(r'data-jd-(\w+)="([^"]*)"', body.group(1)))
    assert attrs.get("result", "").endswith(f"comparison/{PLOT}"), attrs
    size = attrs.get("plot", "")
    assert re.fullmatch(r"\d+x\d+", size), f"plot did not render: {attrs}"
    w, h = map(int, size.split("x"))
    assert w >= 200 and h >= 150, size
    # the report's own React tree now holds the image element
    assert re.search(rf'<img src="[^"]*{re.escape(PLOT)}', dom)
