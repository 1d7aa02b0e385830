"""Benchmark the lessons as a learner runs them: each notebook top to bottom in a fresh kernel.

    python tools/bench.py                       # every notebook
    python tools/bench.py notebooks/05_*.ipynb  # some of them

Records per notebook: wall time (kernel start and imports included), peak resident memory of the kernel process
and its children (sampled every 50 ms), and the key metrics the notebook reports through
``labkit.config.report_metrics`` (printed lines starting with ``key metrics:``). Prints a table, writes
bench/results.json and bench/results.md, and marks rows over budget. It is a benchmark, not a test: it never fails
a notebook for being slow, but it exits 1 when a notebook raises an error.
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


class PeakMemory(threading.Thread):
    """Samples the summed RSS of this process's descendants (the kernel and its children)."""

    def __init__(self, interval=0.05):
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, 0, threading.Event()

    def run(self):
        me = psutil.Process()
        while not self._halt.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


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


def run_notebook(path, timeout=600):
    """Execute one notebook in a fresh kernel; return its row of the results table."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    # nbclient's handler for ipywidgets' Output widget can deadlock a cell that displays a widget (nbclient issue
    # #312); the benchmark does not need widget state, so it installs no comm handlers.
    client.comm_open_handlers = {}
    sampler = PeakMemory()
    sampler.start()
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except Exception as err:  # report the failing notebook and go on with the others
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    wall = time.perf_counter() - start
    sampler.stop()
    peak_mb = sampler.peak / 2**20
    over = [what for what, bad in (("time", wall > BUDGET_S), ("memory", peak_mb > BUDGET_MB)) if bad]
    return {"notebook": path.name, "wall_s": round(wall, 1), "peak_mb": round(peak_mb), "over_budget": over,
            "error": error, "metrics": parse_metrics(nb)}


def markdown_table(rows):
    lines = [f"Budget per notebook: {BUDGET_S:.0f} s wall, {BUDGET_MB:.0f} MB peak kernel memory "
             f"({os.cpu_count()} CPUs).", "",
             "| notebook | wall (s) | peak memory (MB) | status | key metrics |", "|---|---:|---:|---|---|"]
    for r in rows:
        status = "ERROR " + r["error"] if r["error"] else ("OVER BUDGET: " + ", ".join(r["over_budget"])
                                                             if r["over_budget"] else "ok")
        metrics = ", ".join(f"{k}={v}" for k, v in r["metrics"].items())
        lines.append(f"| {r['notebook']} | {r['wall_s']} | {r['peak_mb']} | {status} | {metrics} |")
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
        print(f"{r['notebook']:<32} {r['wall_s']:>6.1f} s {r['peak_mb']:>6} MB  "
              f"{r['error'] or ('OVER ' + ','.join(r['over_budget']) if r['over_budget'] else 'ok')}", flush=True)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    table = markdown_table(rows)
    (OUT_DIR / "results.md").write_text(table + "\n")
    print("\n" + table)
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
