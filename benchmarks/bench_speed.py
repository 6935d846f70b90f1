"""Run ``siamcan bench`` (fast vs eager, side by side) for both models and print the speed-ups.

    python benchmarks/bench_speed.py [--frames 100] [--r50-frames 40] [--sequence DIR] [--out benchmarks/results]

Writes one JSON per model into --out and prints a Markdown table (the README's ## Speed section).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=100, help="frames for siamcan-lite")
    p.add_argument("--r50-frames", type=int, default=40, help="frames for siamcan-r50 (~0.3 s/frame/backend)")
    p.add_argument("--sequence", default=None)
    p.add_argument("--threads", type=int, default=None, help="passed to siamcan bench (1 on a busy machine)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model, n in (("siamcan-lite", a.frames), ("siamcan-r50", a.r50_frames)):
        js = out / f"bench_{model}.json"
        cmd = [sys.executable, "-m", "siamcan.cli.main", "bench", "--model", model, "--frames", str(n),
               "--json", str(js)] + (["--sequence", a.sequence] if a.sequence else []) \
            + (["--threads", str(a.threads)] if a.threads else [])
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        r = json.loads(js.read_text())
        f, e = r["backends"]["fast"], r["backends"]["eager"]
        rows.append(f"| {model} | {r['weights']} | {r['frames']} | {e['median_ms']:.1f} ({e['p10_ms']:.1f}-{e['p90_ms']:.1f}) "
                    f"| {f['median_ms']:.1f} ({f['p10_ms']:.1f}-{f['p90_ms']:.1f}) | {e['fps']:.1f} | {f['fps']:.1f} "
                    f"| **{f['speedup_vs_eager']:.2f}x** | {f['max_box_diff_px_vs_eager']:.1e} |")
    print(f"\nthreads: {r['threads']}")
    print("\n| model | weights | frames | eager ms median (p10-p90) | fast ms median (p10-p90) | eager FPS | fast FPS "
          "| speed-up | max box diff px |\n|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
