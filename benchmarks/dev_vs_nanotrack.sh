#!/usr/bin/env bash
# Success AUC / precision of siamcan-lite (shipped weights) and OpenCV's NanoTrack v2 on the dev set
# (../shared/data/dev/otb-format: never used for training or tuning), side by side in one run.
# Usage: benchmarks/dev_vs_nanotrack.sh [RESULTS_DIR]   (default: results/dev)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${SIAMCAN_SHARED_DATA:-../shared/data}/dev/otb-format
OUT=${1:-results/dev}
siamcan eval "$DEV" --format otb --model siamcan-lite --name siamcan-lite --results "$OUT"
siamcan eval "$DEV" --format otb --tracker nanotrack --name NanoTrackV2 --results "$OUT"
siamcan report "$DEV" --format otb --results "$OUT" --trackers siamcan-lite NanoTrackV2 \
    --per-sequence --bootstrap 10000 --json "$OUT/otb-format.json" --plot "$OUT/otb-format.png"
