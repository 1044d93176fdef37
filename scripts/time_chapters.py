"""Measure how long each chapter notebook takes to run at book scale, as CI runs it (``make chapter-times``).

Runs nbval on each chapter in turn (one thread, progress bars off, the stored outputs compared as in
``make nbval``) and writes the wall time of each into ``book/_data/chapter_times.json`` with the machine
and the conditions, for the running page (``scripts/make_pages.py``). A chapter whose validation
fails is reported and not recorded.

Usage: ``python scripts/time_chapters.py [--conditions TEXT] [NOTEBOOK ...]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "_data" / "chapter_times.json"


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--conditions", default="nbval, one thread (OMP_NUM_THREADS=1), nothing else running")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    data = json.loads(OUT.read_text()) if OUT.exists() else {"seconds": {}}
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(CI="1", OMP_NUM_THREADS="1")
    failed = []
    for nb in notebooks:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env"]
        cmd += ["--nbval-sanitize-with", str(ROOT / "book" / "sanitize.cfg"), str(nb)]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        print(f"{nb.name:40s} {seconds:6.1f} s  {'ok' if run.returncode == 0 else 'FAILED'}", flush=True)
        if run.returncode != 0:
            failed.append(nb.name)
            print(run.stdout[-3000:])
            continue
        data["seconds"][nb.stem] = round(seconds, 1)
    data.update(machine=machine(), date=datetime.date.today().isoformat(), conditions=args.conditions)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
