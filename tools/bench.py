"""Benchmark the lessons as a learner runs them: each notebook top to bottom in a fresh kernel.

    python tools/bench.py                       # every notebook
    python tools/bench.py notebooks/05_*.ipynb  # some of them

Records per notebook: wall time from kernel start to the end of the last cell (kernel start and imports included;
the kernel's shutdown afterwards, about 3 s that no learner waits for, is not), the kernel's CPU time (user + system, its
children included: on a busy machine wall time grows, CPU time much less), the exact peak resident memory of the
kernel process plus its children (VmHWM from /proc, recorded by Linux itself, so short peaks are not missed), and
the key metrics the notebook reports through ``labkit.config.report_metrics`` (printed lines starting with
``key metrics:``). Prints a table, writes bench/results.json and bench/results.md, and marks rows over budget.
It is a benchmark, not a test: it never fails a notebook for being slow, but it exits 1 when a notebook raises an error.
"""

import argparse
import json
import os
import pathlib
import sys
import threading
import time

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench"
BUDGET_S, BUDGET_MB = 60.0, 1200.0
METRIC_PREFIX = "key metrics:"


def _status_kb(pid, field):
    """A ``field`` of /proc/PID/status in kB (VmHWM: the peak resident set the kernel recorded), or None."""
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def has_own_memory(child, parent):
    """Whether a child process holds memory of its own (psutil.Process objects).

    A child made by fork or vfork that has not yet called exec runs in its parent's memory: with vfork it shares
    the very pages, with fork it shares them until written. Its VmHWM then repeats the parent's peak, and adding it
    would count the parent twice (seen: ``ldconfig -p``, run by ctypes.util.find_library during an import, added
    500 MB to a lesson's peak when a poll fell in the instant between vfork and exec). Such a child still shows its
    parent's command line; a child that ran exec shows its own. So a child counts only when its command line
    differs from its parent's. (Lessons load data in the kernel itself, num_workers=0, so no forked worker that
    never execs is missed.)
    """
    try:
        return child.cmdline() != parent.cmdline()
    except psutil.Error:
        return False


def _children(process):
    """All descendants of a psutil.Process.

    Linux lists each thread's children in /proc/PID/task/TID/children; reading those files for the kernel (and
    recursively) costs well under a millisecond. psutil's ``children()`` scans every process on the machine (about
    1.6 ms for 64 processes), and the sampler does this 20 times a second next to a notebook that uses both cores,
    so it falls back to psutil only where those files do not exist.
    """
    tasks = pathlib.Path(f"/proc/{process.pid}/task")
    try:
        pids = {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}
    except FileNotFoundError:
        return process.children(recursive=True)
    except OSError:   # the process exited while we read
        return []
    found = []
    for pid in sorted(pids):
        try:
            child = psutil.Process(pid)
        except psutil.Error:
            continue
        found += [child, *_children(child)]
    return found


class PeakMemory(threading.Thread):
    """Exact peak memory of the kernel process and its children.

    Linux records each process's peak resident set (VmHWM in /proc/PID/status) itself, so no short peak is
    missed: the kernel's VmHWM is read once more after the last cell, and each child's VmHWM is polled while it
    lives (a child's HWM only grows, so the last value read before it exits is its peak, unless it lives for
    less than ``interval``). The reported peak is the kernel's VmHWM plus the peaks of its children.
    Without /proc (macOS) it falls back to sampling the summed RSS, which can miss short peaks.
    """

    def __init__(self, kernel_pid, interval=0.05):
        super().__init__(daemon=True)
        self.kernel_pid, self.interval, self._halt = kernel_pid, interval, threading.Event()
        self.exact = pathlib.Path(f"/proc/{kernel_pid}/status").exists()
        self.kernel_kb, self.children_kb, self.sampled_rss, self.cpu_s = 0, {}, 0, 0.0

    def _poll(self):
        try:
            kernel = psutil.Process(self.kernel_pid)
            children = [c for c in _children(kernel) if has_own_memory(c, kernel)]
            if not self.exact:
                rss = kernel.memory_info().rss + sum(c.memory_info().rss for c in children)
                self.sampled_rss = max(self.sampled_rss, rss)
        except psutil.Error:
            return
        if self.exact:
            self.kernel_kb = max(self.kernel_kb, _status_kb(self.kernel_pid, "VmHWM") or 0)
            for child in children:
                hwm = _status_kb(child.pid, "VmHWM")
                if hwm is not None:
                    self.children_kb[child.pid] = max(self.children_kb.get(child.pid, 0), hwm)

    def run(self):
        while not self._halt.is_set():
            self._poll()
            self._halt.wait(self.interval)

    def stop(self):
        """Stop polling and read the kernel's VmHWM a last time (call before the kernel shuts down)."""
        self._halt.set()
        self.join()
        self._poll()
        try:
            t = psutil.Process(self.kernel_pid).cpu_times()
            self.cpu_s = t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            self.cpu_s = float("nan")

    @property
    def peak_mb(self):
        if self.exact:
            return (self.kernel_kb + sum(self.children_kb.values())) / 1024
        return self.sampled_rss / 2**20


def parse_metrics(nb):
    """Key metrics printed by the notebook: lines 'key metrics: name=value, name=value'."""
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(METRIC_PREFIX):
                    for pair in line[len(METRIC_PREFIX):].split(","):
                        name, _, value = pair.strip().partition("=")
                        if name:
                            found[name] = value
    return found


def run_notebook(path, timeout=600, env=None):
    """Execute one notebook in a fresh kernel (with extra environment variables ``env``, e.g. LABKIT_SEED);
    return its row of the results table."""
    saved = {name: os.environ.get(name) for name in (env or {})}
    os.environ.update(env or {})   # the kernel inherits this process's environment
    try:
        return _run(path, timeout)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(path, timeout):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    # nbclient's handler for ipywidgets' Output widget can deadlock a cell that displays a widget (nbclient issue
    # #312); the benchmark does not need widget state, so it installs no comm handlers.
    client.comm_open_handlers = {}
    start, error, sampler, wall = time.perf_counter(), None, None, None
    try:
        with client.setup_kernel():
            sampler = PeakMemory(client.km.provisioner.process.pid)
            sampler.start()
            try:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
            finally:
                wall = time.perf_counter() - start   # the kernel's shutdown is not part of running the lesson
                sampler.stop()   # the kernel is still alive: its VmHWM is its peak over the whole notebook
    except Exception as err:  # report the failing notebook and go on with the others
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    wall = wall if wall is not None else time.perf_counter() - start
    peak_mb = sampler.peak_mb if sampler is not None else float("nan")
    over = [what for what, bad in (("time", wall > BUDGET_S), ("memory", peak_mb > BUDGET_MB)) if bad]
    cpu_s = round(sampler.cpu_s, 1) if sampler is not None else float("nan")
    return {"notebook": path.name, "wall_s": round(wall, 1), "cpu_s": cpu_s, "peak_mb": round(peak_mb),
            "over_budget": over,
            "error": error, "metrics": parse_metrics(nb), "exact_memory": bool(sampler and sampler.exact)}


def markdown_table(rows):
    lines = [f"Budget per notebook: {BUDGET_S:.0f} s wall, {BUDGET_MB:.0f} MB peak kernel memory "
             f"({os.cpu_count()} CPUs).", "",
             "| notebook | wall (s) | kernel CPU (s) | peak memory (MB) | status | key metrics |",
             "|---|---:|---:|---:|---|---|"]
    for r in rows:
        status = "ERROR " + r["error"] if r["error"] else ("OVER BUDGET: " + ", ".join(r["over_budget"])
                                                             if r["over_budget"] else "ok")
        metrics = ", ".join(f"{k}={v}" for k, v in r["metrics"].items())
        lines.append(f"| {r['notebook']} | {r['wall_s']} | {r.get('cpu_s', '')} | {r['peak_mb']} | {status} | {metrics} |")
    total = sum(r["wall_s"] for r in rows)
    lines.append(f"\nTotal: {total:.0f} s for {len(rows)} notebooks.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run notebooks in fresh kernels; report time and memory.")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    rows = []
    for path in paths:
        rows.append(run_notebook(path))
        r = rows[-1]
        print(f"{r['notebook']:<32} {r['wall_s']:>6.1f} s wall {r['cpu_s']:>6.1f} s CPU {r['peak_mb']:>6} MB  "
              f"{r['error'] or ('OVER ' + ','.join(r['over_budget']) if r['over_budget'] else 'ok')}", flush=True)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    table = markdown_table(rows)
    (OUT_DIR / "results.md").write_text(table + "\n")
    print("\n" + table)
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
