#!/usr/bin/env bash
# Issue 30's grey codec: base v2 (training-state/scc-base-v2, the shipped
# default) fine-tuned on the training photos made grey, as scc reads a grey
# image (its luma in all three channels), every part training. Its learning
# curve measures the held-out photos made grey against v2 itself, so its BD
# is the saving a grey model brings. Resumable: run it again; --minutes is
# the run's total over every resume (a larger one restarts the learning
# rate's decay).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/grey-v2}
BASE=training-state/scc-base-v2.checkpoint.pt
STATE=training-state/scc-grey-v2
. scripts/resume-state.sh
resume_from "$STATE" "$WORK"
exec nice -n 10 .venv/bin/scc train "${TRAIN_DATA:-../shared/data/train}" --workdir "$WORK" --grey \
    --widen-from "$BASE" --channels 64 --latent-channels 192 \
    --lambdas 0.0008,0.0018,0.0035,0.0067,0.013,0.025,0.0483,0.0932,0.18,0.36 \
    --ema 0.999 --val-minutes 10 --val-reference "$BASE" \
    --crop 192 --batch 8 --lr 1e-4 --threads "${THREADS:-2}" --minutes "${MINUTES:-45}" "$@"
