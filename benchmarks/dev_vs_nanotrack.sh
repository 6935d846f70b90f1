#!/usr/bin/env bash
# Success AUC / precision of the default model (siamcan-nano, shipped weights and values) next to NanoTrack v3 and
# v2 (their released networks in ONNX Runtime, their own tracker values) and OpenCV's cv2.TrackerNano, side by side
# in one run, on the dev set (../shared/data/dev/otb-format: never used for training, choosing or tuning) or on the
# set given as the second argument, with per-sequence AUCs and bootstrap intervals over the sequences.
# Usage: benchmarks/dev_vs_nanotrack.sh [RESULTS_DIR] [DATASET]   (default: results/dev, the dev set)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${2:-${SIAMCAN_SHARED_DATA:-../shared/data}/dev/otb-format}
OUT=${1:-results/dev}
siamcan --no-progress eval "$DATA" --format otb --name siamcan-nano --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --tracker nanotrack-v3 --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --tracker nanotrack-v2 --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --tracker nanotrack-cv2 --results "$OUT"
siamcan report "$DATA" --format otb --results "$OUT" --trackers siamcan-nano NanoTrackV3 NanoTrackV2 NanoTrackV2-cv2 \
    --per-sequence --bootstrap 10000 --json "$OUT/report.json" --plot "$OUT/report.png"
