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

import base64
import json
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
#: The result tables (self-contained HTML report items) and a header each must show.
TABLES = {
    "kd_vs_solo.html": ("Distillation", "Δacc KD−solo (pts, ±SE)"),
    "frontier.html": ("Compression", "drop vs float (pts, ±SE)"),
    "summary.html": ("Summary", "latency (cycles)"),
}
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
  var target = %(target)s, content = %(content)s;
  var path = Object.keys(results).find(function (p) { return p === target || p.endsWith("/" + target); });
  var mark = function (k, v) { document.body.setAttribute("data-jd-" + k, v); };
  mark("result", path || "missing");
  if (!path) return;
  var uri = results[path].data_uri, tries = 0, shown = false;
  (function poll() {
    if (tries++ > 300) { mark("plot", shown ? "not-rendered" : "no-app"); return; }
    if (!shown) {
      if (typeof app === "undefined" || !app) { setTimeout(poll, 50); return; }
      app.setView({content: content, contentPath: uri, resultPath: path});
      shown = true;
    }
    if (content === "html") {  /* a table: the report shows it in an iframe of the data URI */
      var frame = Array.prototype.find.call(document.querySelectorAll("#app iframe"),
                                            function (f) { return f.getAttribute("src") === uri; });
      if (frame) {
        var page = decodeURIComponent(escape(atob(uri.split(",")[1])));
        mark("plot", "tables=" + (page.match(/<table/g) || []).length); return;
      }
      setTimeout(poll, 50); return;
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
    categories = json.loads(m.group(1))
    for name, (category, _header) in TABLES.items():
        listed = [p for sub in categories.get(category, {}).values() for p in sub]
        assert any(p.endswith("/" + name) for p in listed), f"{name} not in category {category}"
    if not from_zip:
        # self-contained report: the PNG itself is embedded as a data URI
        assert re.search(
            rf"data:image/png;[^\"]*filename={re.escape(PLOT)};base64,iVBORw0KGgo", text
        )


def embedded_tables(page: Path) -> dict[str, str]:
    """The decoded HTML of each table report item (self-contained report or zip folder)."""
    text = page.read_text(errors="replace")
    out = {}
    for name in TABLES:
        m = re.search(
            rf"data:text/html;[^\"]*?filename={re.escape(name)};base64,([A-Za-z0-9+/=]+)", text
        )
        if m:
            out[name] = base64.b64decode(m.group(1)).decode()
        else:  # zip report: the file sits next to report.html
            found = sorted(page.parent.rglob(name))
            assert found, f"{name} neither embedded nor shipped with the report"
            out[name] = found[0].read_text()
    return out


def test_report_carries_the_result_tables(report: tuple[Path, bool]):
    page, _ = report
    tables = embedded_tables(page)
    for name, (_category, header) in TABLES.items():
        html = tables[name]
        assert "<table" in html and f"<th>{header}</th>" in html, (name, html[:1500])
        rows = re.findall(r"<tr><td>", html)
        assert rows, f"{name}: a table without rows"
    # train-jet and test-jet fidelity with the teacher (Stanton et al. 2021) beside each other
    for header in ("KD agree", "solo train agree", "KD train agree", "KD test KL (nats)"):
        assert f"<th>{header}</th>" in tables["kd_vs_solo.html"], header
    # the summary has the four short tables, the FPGA one included
    assert tables["summary.html"].count("<table") == 4
    assert "<th>LUTs</th>" in tables["summary.html"]


def need_chromium() -> str:
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
            pytest.fail("CI=true but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return chromium


def probe_report(
    page: Path, target: str, content: str, profile: Path
) -> tuple[dict[str, str], str]:
    """Show ``target`` through the report's own app state; return the body marks and the DOM."""
    chromium = need_chromium()
    probe = page.with_name(f"report_probe_{content}.html")
    html = page.read_text(errors="replace")
    cut = html.rfind("</body>")
    assert cut > 0
    script = PROBE % {"target": json.dumps(target), "content": json.dumps(content)}
    probe.write_text(html[:cut] + script + html[cut:])
    dom = render(chromium, probe, profile)
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:2000]
    return dict(re.findall(r'data-jd-(\w+)="([^"]*)"', body.group(1))), dom


def test_table_renders_in_headless_chromium(report: tuple[Path, bool], tmp_path: Path):
    page, _ = report
    attrs, dom = probe_report(page, "kd_vs_solo.html", "html", tmp_path / "chromium")
    assert attrs.get("result", "").endswith("comparison/kd_vs_solo.html"), attrs
    # the reference table (teacher, baselines, solo students) and the KD-vs-solo table
    assert attrs.get("plot") == "tables=2", f"tables did not show: {attrs}"
    assert re.search(r'<iframe src="data:text/html', dom)


def test_comparison_plot_renders_in_headless_chromium(report: tuple[Path, bool], tmp_path: Path):
    page, _ = report
    attrs, dom = probe_report(page, PLOT, "img", tmp_path / "chromium")
    assert attrs.get("result", "").endswith(f"comparison/{PLOT}"), attrs
    size = attrs.get("plot", "")
    assert re.fullmatch(r"\d+x\d+", size), f"plot did not render: {attrs}"
    w, h = map(int, size.split("x"))
    assert w >= 200 and h >= 150, size
    # the report's own React tree now holds the image element
    assert re.search(rf'<img src="[^"]*{re.escape(PLOT)}', dom)


# --------------------------------------------------------------------------- MLflow UI


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_ui(e2e_workdir: Path):
    """``mlflow ui`` started exactly as the README says (project root, no store flags)."""
    import signal
    import sys
    import time
    import urllib.request

    port = free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (e2e_workdir / "mlflow_ui.log").open("w")
    proc = subprocess.Popen(
        [str(mlflow), "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=e2e_workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
        else:
            raise AssertionError((e2e_workdir / "mlflow_ui.log").read_text()[-3000:])
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def browse(url: str, profile: Path) -> str:
    """The DOM of an MLflow UI page after its scripts and REST calls ran."""
    chromium = need_chromium()
    cmd = [chromium, *CHROMIUM_FLAGS[:-1], "--virtual-time-budget=30000", "--window-size=1600,1400",
           f"--user-data-dir={profile}", "--dump-dom", url]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False,
                          env={**os.environ, "HOME": str(profile)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_mlflow_ui_opens_on_the_runs_table_with_kd_and_solo(
    mlflow_ui: str, e2e_workdir: Path, tmp_path: Path
):
    from jetdistill.report import links
    from jetdistill.tracking import config

    cfg = config.TrackingConfig.from_dict({}, root=e2e_workdir)
    url = links.student_runs_url(cfg, base_url=mlflow_ui)  # the link the run prints at its end
    dom = browse(url, tmp_path / "chromium")
    assert "matching runs" in dom, dom[-3000:]  # the classic runs table, not the GenAI overview
    names = set(re.findall(r">((?:solo|kd|qat-\w+)-mlp-s[^<]*)<", dom))
    assert any(n.startswith("solo-mlp-s") for n in names), names
    assert any(re.fullmatch(r"kd-mlp-s\d-jedi-hinton-T[\d.]+-a[\d.]+", n) for n in names), names
    assert not re.search(r">invocation-[^<]*<", dom)  # child runs listed flat, no parent row


def test_mlflow_compare_page_lines_up_kd_and_solo(
    mlflow_ui: str, e2e_workdir: Path, tmp_path: Path
):
    from jetdistill.report import links
    from jetdistill.tracking import config

    cfg = config.TrackingConfig.from_dict({}, root=e2e_workdir)
    url = links.kd_vs_solo_compare_url(cfg, base_url=mlflow_ui)
    assert url
    dom = browse(url, tmp_path / "chromium")
    assert re.search(r"Comparing \d+ Runs", dom), dom[-3000:]
    for param in links.COMMON_PARAMS:
        assert f">{param}<" in dom, f"param {param} not in the compare view"
    assert ">none<" in dom  # solo: kd.temperature / kd.alpha = none, next to the KD values
