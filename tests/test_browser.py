"""Real-browser test: JupyterLab in headless Chromium runs lessons, shows no error, and its widgets react.

Every notebook that displays a labkit widget is opened with a token, run top to bottom, then its first slider is
moved with the keyboard (or, where a widget has no slider, its first checkbox is clicked) and the widget's output
must change. Each notebook's kernel is shut down before the next one starts. A page that does not show its notebook
with an idle kernel within two minutes is loaded again (three loads at most), with a warning that says what it showed.

The browser is /usr/bin/chromium (Debian) or the one LABKIT_CHROMIUM names. Skipped with a reason where it is absent,
except in CI (CI=true), where the skip is a failure.
Screenshots go to bench/screenshots/ (git-ignored).
"""

import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings

import pytest

from tests.notebook_cells import cells, notebook_paths, text

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")   # e.g. /usr/bin/google-chrome on GitHub
SHOTS = ROOT / "bench" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SLIDER = ".widget-slider .noUi-handle, .widget-hslider .slider-handle"
CHECKBOX = ".widget-checkbox input[type=checkbox]"


def _notebooks_with_widgets():
    """Every notebook with a cell that displays a labkit widget (a line starting with ``widgets.name(``)."""
    found = []
    for path in notebook_paths():
        code = "\n".join(text(c) for c in cells(path) if c["cell_type"] == "code")
        if re.search(r"^widgets\.\w+\(", code, re.M):
            found.append(path.name)
    return found


WIDGET_NOTEBOOKS = _notebooks_with_widgets()

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI needs {CHROMIUM} for the browser test (.ci/run installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run the browser test", allow_module_level=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of the notebooks (so autosave never touches them)."""
    workdir = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", workdir / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir / 'notebooks'}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=_lab_env(workdir))
    base = f"http://127.0.0.1:{port}"
    _wait_for(lambda: _status(f"{base}/api/status?token={token}") == 200, 60, "JupyterLab did not start")
    assert _status(f"{base}/api/contents") == 403, "the server must refuse requests without its token"
    yield base, token
    server.terminate()
    server.wait(timeout=20)


def _lab_env(workdir):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}   # kernels use the inline backend
    return {**env, "JUPYTER_CONFIG_DIR": str(workdir / ".jupyter")}


def _status(url):
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def _wait_for(condition, timeout, message):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(message)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


RUN_STATE_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.content || !nb.sessionContext.session) { return null; }
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  const done = cells.filter(c => c.model.executionCount !== null).length;
  const errors = [];
  for (const c of cells) {
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') { errors.push(o.ename + ': ' + o.evalue); }
    }
  }
  return {total: cells.length, done: done, busy: nb.sessionContext.session.kernel.status !== 'idle', errors: errors};
}"""


SHUTDOWN_JS = """() => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return nb && nb.sessionContext ? nb.sessionContext.shutdown() : null;
}"""


OPEN_STATE_JS = """path => {
  const app = window.jupyterapp;
  const nb = app && app.shell.currentWidget;
  const session = nb && nb.sessionContext && nb.sessionContext.session;
  const dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.slice(0, 200));
  return {app: !!app, path: nb && nb.context ? nb.context.path : null, session: !!session,
          kernel: session && session.kernel ? session.kernel.status : null, dialogs: dialogs,
          ready: !!(nb && nb.context && nb.context.path === path && session && session.kernel
                    && session.kernel.status === 'idle')};
}"""


def _open(page, url, name, tries=3, timeout=120_000):
    """Go to url and wait until this notebook (not one a saved workspace restored) is in front with an idle kernel.

    A page that is not ready in time (a kernel that never reported idle on a busy machine, a dialog in the way)
    is loaded again, up to ``tries`` times; the last failure says what the page showed each time.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    seen = []
    for attempt in range(tries):
        page.goto(url)
        try:
            page.wait_for_function(f"path => ({OPEN_STATE_JS})(path).ready", arg=name, timeout=timeout)
            if seen:
                warnings.warn(f"{name} opened with an idle kernel only at load {attempt + 1}: before, {seen}")
            return
        except PlaywrightTimeout:
            seen.append(page.evaluate(OPEN_STATE_JS, name))
            page.screenshot(path=str(SHOTS / f"{name.removesuffix('.ipynb')}-open-{attempt + 1}.png"))
            page.evaluate(SHUTDOWN_JS)
    raise AssertionError(f"{name} was not in front with an idle kernel after {tries} loads of "
                         f"{timeout // 1000} s; the page showed: {seen}")


def _run_all(page, name, timeout=480):
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    start, deadline, state = time.time(), time.time() + timeout, None
    while time.time() < deadline:
        state = page.evaluate(RUN_STATE_JS)
        if state and state["done"] == 0 and not state["busy"] and time.time() - start > 30:
            # the command can arrive before the notebook panel is ready on a busy machine: issue it again
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            start = time.time()
        if state and state["errors"]:
            break
        if state and state["done"] == state["total"] and not state["busy"]:
            break
        time.sleep(1)
    page.screenshot(path=str(SHOTS / f"{name}-run-all.png"), full_page=False)
    return state


def _widget_output(page, control):
    """What the widget box holding ``control`` shows: its output's text and the data of its images."""
    box = control.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
    output = box.locator(".widget-output").first
    images = output.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src'))")
    return output.inner_text(), tuple(images)


@pytest.mark.parametrize("name", WIDGET_NOTEBOOKS)
def test_notebook_runs_and_widget_reacts(lab, browser, name):
    base, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)   # generous: CI runs this beside a notebook worker on 2 cores
    # a workspace of its own, reset, so JupyterLab does not bring back the previous test's notebook
    try:
        _open(page, f"{base}/lab/workspaces/{name.removesuffix('.ipynb')}/tree/{name}?reset&token={token}", name)
        state = _run_all(page, name.removesuffix(".ipynb"))
        assert state is not None, "the notebook never opened with a kernel"
        assert not state["errors"], f"cells raised in the browser: {state['errors']}"
        assert state["done"] == state["total"], f"only {state['done']} of {state['total']} cells ran"

        control, kind = _first_control(page)
        control.evaluate("e => e.scrollIntoView({block: 'center'})")   # no wait for 'stable': a busy page re-renders
        before = _widget_output(page, control)
        assert before[1], "the widget shows no figure before its control is moved"
        value = _control_value(control, kind)
        if kind == "slider":   # towards the end it is not already at
            key = "ArrowLeft" if value == control.get_attribute("aria-valuemax") else "ArrowRight"
            control.focus()
            for _ in range(5):
                page.keyboard.press(key)
        else:
            control.click()
        _wait_for(lambda: _control_value(control, kind) != value, 30, f"the {kind} did not move from {value}")
        # the kernel may not have started the callback yet on a busy machine: poll for the new output
        try:
            _wait_for(lambda: _widget_output(page, control) != before, 90,
                      f"the widget's output did not change when its {kind} moved")
        finally:
            page.screenshot(path=str(SHOTS / f"{name.removesuffix('.ipynb')}-{kind}-moved.png"))
        _wait_for(lambda: not page.evaluate(RUN_STATE_JS)["busy"], 60, "the kernel stayed busy after the control moved")
        after = _widget_output(page, control)
        assert after != before, "the widget's output went back to what it showed before the control moved"
        assert after[1], "the widget's output has no figure after the control moved"
    finally:   # one kernel at a time: shut this one down before the next notebook
        page.evaluate(SHUTDOWN_JS)
        page.close()


def _first_control(page):
    """The first slider handle on the page, or the first checkbox where a lesson's widget has no slider."""
    page.wait_for_selector(f"{SLIDER}, {CHECKBOX}", state="attached")
    sliders = page.locator(SLIDER)
    if sliders.count():
        return sliders.first, "slider"
    return page.locator(CHECKBOX).first, "checkbox"


def _control_value(control, kind):
    return control.get_attribute("aria-valuenow") if kind == "slider" else control.is_checked()
