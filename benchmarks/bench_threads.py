"""How many torch threads should tracking use by default? 1 vs 2 threads, on a quiet machine and with a busy loop
on one core (another job), siamcan-lite, the default fast path.

    python benchmarks/bench_threads.py [--frames 60] [--threads 1 2] [--model siamcan-lite] [--out benchmarks/results]
    python benchmarks/bench_threads.py --train [--steps 3] [--batch 8]     # training steps instead of tracking

Each case is one ``siamcan bench --backends fast --threads N`` run in its own process (the same frames of a dev
sequence, or the generated clip without shared data). "busy" starts ``while True: pass`` pinned to the last CPU of
this process's affinity mask for the duration of the run; the tracker itself is not pinned. Other jobs already
running count too: the load average before the run is printed and saved. Writes
``threads.json`` into --out (git-ignored) and prints a Markdown table. About a minute on 2 cores.

``--train`` times forward + backward of siamcan-lite training batches instead (random 127/255 crops, channels-last,
backbone frozen as in the first epochs; median of ``--steps`` after one warm-up step), ``threads_train.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BUSY_LOOP = "while True:\n    pass\n"


def busy_process(cpu: int) -> subprocess.Popen:
    """A child spinning on ``cpu`` (as another job on one core would)."""
    code = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n" + BUSY_LOOP
    return subprocess.Popen([sys.executable, "-c", code])


TRAIN_STEP = """
import json, statistics, sys, time
import torch
from siamcan.models import build_model
from siamcan.training.trainer import set_train_mode, set_trainable
from siamcan.zoo import resolve_config
threads, batch, steps = (int(v) for v in sys.argv[1:4])
torch.set_num_threads(threads)
cfg = resolve_config("siamcan-lite")
torch.manual_seed(0)
model = build_model(cfg.model).to(memory_format=torch.channels_last)
set_trainable(model, cfg, 0)
set_train_mode(model, cfg, 0)
z = (torch.rand(batch, 3, 127, 127) * 255).contiguous(memory_format=torch.channels_last)
x = (torch.rand(batch, 3, 255, 255) * 255).contiguous(memory_format=torch.channels_last)
times = []
for _ in range(steps + 1):
    t0 = time.perf_counter()
    out = model(z, x)
    sum(o.float().sum() for o in out if torch.is_tensor(o)).backward()
    times.append(time.perf_counter() - t0)
t = sorted(times[1:])
print(json.dumps({"median_s": statistics.median(t), "min_s": t[0], "max_s": t[-1]}))
"""


def run_train_case(threads: int, batch: int, steps: int, busy: bool) -> dict:
    spinner = busy_process(sorted(os.sched_getaffinity(0))[-1]) if busy else None
    try:
        p = subprocess.run([sys.executable, "-c", TRAIN_STEP, str(threads), str(batch), str(steps)], check=True,
                           capture_output=True, text=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return {"threads": threads, "busy": busy, "batch": batch, **r, "pairs_per_s": batch / r["median_s"]}


def run_case(model: str, threads: int, frames: int, out: Path, busy: bool) -> dict:
    js = out / f"threads_{threads}_{'busy' if busy else 'quiet'}.json"
    cmd = [sys.executable, "-m", "siamcan.cli.main", "bench", "--model", model, "--backends", "fast",
           "--threads", str(threads), "--frames", str(frames), "--json", str(js)]
    spinner = None
    if busy:
        cpus = sorted(os.sched_getaffinity(0))
        spinner = busy_process(cpus[-1])
        time.sleep(0.5)
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    r = json.loads(js.read_text())
    f = r["backends"]["fast"]
    return {"threads": threads, "busy": busy, "median_ms": f["median_ms"], "p10_ms": f["p10_ms"],
            "p90_ms": f["p90_ms"], "fps": f["fps"], "frames": r["frames"], "sequence": r["sequence"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="siamcan-lite")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--train", action="store_true", help="time training steps instead of tracking")
    p.add_argument("--batch", type=int, default=8, help="--train: pairs per batch")
    p.add_argument("--steps", type=int, default=3, help="--train: timed steps per case")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    if a.train:
        rows = [run_train_case(n, a.batch, a.steps, busy) for busy in (False, True) for n in a.threads]
        (out / "threads_train.json").write_text(json.dumps({"loadavg_before": load, "rows": rows}, indent=2) + "\n")
        print(f"siamcan-lite training step (batch {a.batch}, backbone frozen), load average before {load[0]:.2f}")
        print("| busy loop on one core | threads | s/batch median (min-max) | pairs/s |\n|---|---|---|---|")
        for r in rows:
            print(f"| {'yes' if r['busy'] else 'no'} | {r['threads']} | {r['median_s']:.2f} "
                  f"({r['min_s']:.2f}-{r['max_s']:.2f}) | {r['pairs_per_s']:.1f} |")
        return 0
    rows = []
    for busy in (False, True):
        for n in a.threads:
            r = run_case(a.model, n, a.frames, out, busy)
            rows.append(r)
            print(f"{'busy loop' if busy else 'no loop  '} {n} thread(s): {r['median_ms']:.1f} ms "
                  f"({r['p10_ms']:.1f}-{r['p90_ms']:.1f}), {r['fps']:.1f} FPS", flush=True)
    result = {"model": a.model, "cpus": len(os.sched_getaffinity(0)), "loadavg_before": load,
              "loadavg_after": os.getloadavg(), "rows": rows}
    (out / "threads.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{a.model}, {result['cpus']} CPUs, load average before {load[0]:.2f}, frames of {rows[0]['sequence']}")
    print("| busy loop on one core | threads | median ms (p10-p90) | FPS |\n|---|---|---|---|")
    for r in rows:
        print(f"| {'yes' if r['busy'] else 'no'} | {r['threads']} | {r['median_ms']:.1f} "
              f"({r['p10_ms']:.1f}-{r['p90_ms']:.1f}) | {r['fps']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
