#!/usr/bin/env bash
# Copies the base v2 campaign's checkpoint, logs and learning curve from the
# running workdir into training-state/, ready to commit (scripts/train-base-v2.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/base-v2}
cp "$WORK/checkpoint.pt" training-state/scc-base-v2.checkpoint.pt
for f in train_log.jsonl val_log.jsonl val_reference.json; do
    cp "$WORK/$f" "training-state/scc-base-v2.$f"
done
.venv/bin/python scripts/learning-curve.py "$WORK" --out training-state/scc-base-v2.curve
