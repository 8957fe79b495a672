#!/usr/bin/env bash
# Issue 27's measurement: a channel-conditional context model trained alone
# over the shipped base codec (scc-base-v2), every part of which stays
# frozen, so its learning curve (held-out photos, against v2 itself) is the
# context model's gain on fixed transforms. Resumable: run it again.
# NAME picks the run (training-state/scc-NAME.*): context-v2 has networks 64
# wide (75 minutes, then 30 more with MINUTES=105: models/scc-base-v2-ctx.npz,
# -6.4% on Kodak), context-v2-b parameter networks 48 wide and LRP networks 16
# wide (half the decoder's multiplications, -5.4%; the context model inside
# base v3 phase 2). --minutes is the run's total over every resume; a larger
# total than the last is a warm restart of the learning-rate schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${NAME:-context-v2}
WORK=${WORK:-runs/$NAME}
BASE=training-state/scc-base-v2.checkpoint.pt
STATE=training-state/scc-$NAME
HIDDEN=$([ "$NAME" = context-v2 ] && echo 64,64 || echo 48,16)
. scripts/resume-state.sh
resume_from "$STATE" "$WORK"
exec nice -n 10 .venv/bin/scc train "${TRAIN_DATA:-../shared/data/train}" --workdir "$WORK" \
    --context-base "$BASE" --context-slices "${SLICES:-6}" --context-hidden "$HIDDEN" \
    --ema 0.999 --val-minutes 10 --val-reference "$BASE" \
    --crop 192 --batch 8 --lr 5e-4 --threads "${THREADS:-2}" --minutes "${MINUTES:-105}" "$@"
