"""Check that every lesson's claims hold for other seeds: run notebooks with LABKIT_SEED set.

    python tools/seeds.py                                   # every notebook, seeds 1 2 3
    python tools/seeds.py --seeds 4 5 notebooks/06_*.ipynb  # some notebooks, other seeds

Every lesson passes ``cfg.seed`` (and ``cfg.seed + k``) to everything random, and ``labkit.setup`` takes its seed
from LABKIT_SEED when that is set, so one run per seed changes every seed in the notebook: data draw, split,
initialisation, batch order. A notebook passes for a seed when it runs top to bottom, that is, when every
assertion cell (each checks a claim the lesson makes) holds. Prints a table and writes bench/seeds.json and
bench/seeds.md (with each notebook's key metrics per seed); exits 1 when any notebook fails for any seed.
This is a check to run before a change to a lesson lands (it takes seeds x the benchmark's time), not a test.
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench import OUT_DIR, ROOT, run_notebook  # noqa: E402


def markdown(rows, seeds):
    lines = ["| notebook | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for name in dict.fromkeys(r["notebook"] for r in rows):
        cells = []
        for s in seeds:
            r = next(r for r in rows if r["notebook"] == name and r["seed"] == s)
            cells.append("ok " + ", ".join(f"{k}={v}" for k, v in r["metrics"].items()) if not r["error"]
                         else "FAIL: " + r["error"])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run notebooks with other seeds; report which claims fail.")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--seeds" in argv:   # --seeds takes the integers after it; paths after them are notebooks again
        at = argv.index("--seeds") + 1
        end = next((i for i in range(at, len(argv)) if not argv[i].lstrip("-").isdigit()), len(argv))
        argv = argv[:at - 1] + argv[end:] + argv[at - 1:end]
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    rows = []
    for path in paths:
        for seed in args.seeds:
            row = run_notebook(path, env={"LABKIT_SEED": str(seed)})
            row["seed"] = seed
            rows.append(row)
            print(f"{row['notebook']:<32} seed {seed:>3}  {row['wall_s']:>6.1f} s  {row['peak_mb']:>6} MB  "
                  f"{row['error'] or 'ok'}", flush=True)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "seeds.json").write_text(json.dumps(rows, indent=1) + "\n")
    table = markdown(rows, args.seeds)
    (OUT_DIR / "seeds.md").write_text(table + "\n")
    print("\n" + table)
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
