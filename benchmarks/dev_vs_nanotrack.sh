#!/usr/bin/env bash
# Success AUC / precision of the default model (siamcan-nano, shipped weights and values) next to NanoTrack v3 and
# v2 (their released networks in ONNX Runtime, their own tracker values) and OpenCV's cv2.TrackerNano, side by side
# in one run, on the dev set (../shared/data/dev/otb-format: never used for training, choosing or tuning) or on the
# set given as the second argument, with per-sequence AUCs and bootstrap intervals over the sequences; then the
# long-term measures of val-lt (success AUC and VOT-LT F-score, paired block bootstrap against NanoTrack v3) on the dev
# sequences where the target leaves the view (car, pedestrian2; skipped for a set without them), with siamcan-nano
# --redetect too, and the previous default (siamcan-nano-v1) next to them.
# Usage: benchmarks/dev_vs_nanotrack.sh [RESULTS_DIR] [DATASET]   (default: results/dev, the dev set)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${2:-${SIAMCAN_SHARED_DATA:-../shared/data}/dev/otb-format}
OUT=${1:-results/dev}
siamcan --no-progress eval "$DATA" --format otb --name siamcan-nano --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --model siamcan-nano-v1 --name siamcan-nano-v1 --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --tracker nanotrack-v3 --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --tracker nanotrack-v2 --results "$OUT"
siamcan --no-progress eval "$DATA" --format otb --tracker nanotrack-cv2 --results "$OUT"
siamcan report "$DATA" --format otb --results "$OUT" --trackers siamcan-nano siamcan-nano-v1 NanoTrackV3 NanoTrackV2 NanoTrackV2-cv2 \
    --per-sequence --bootstrap 10000 --json "$OUT/report.json" --plot "$OUT/report.png"
LONG=()
for s in car pedestrian2; do if [ -d "$DATA/$s" ]; then LONG+=("$s"); fi; done
if [ ${#LONG[@]} -gt 0 ]; then
    siamcan --no-progress eval "$DATA" --format otb --name siamcan-nano-redetect --redetect --results "$OUT" \
        --sequences "${LONG[@]}"
    siamcan report "$DATA" --format otb --results "$OUT" \
        --trackers siamcan-nano siamcan-nano-redetect siamcan-nano-v1 NanoTrackV3 NanoTrackV2 \
        --sequences "${LONG[@]}" --per-sequence --versus NanoTrackV3 --bootstrap 10000 --blocks 20 \
        --json "$OUT/report-longterm.json"
fi
