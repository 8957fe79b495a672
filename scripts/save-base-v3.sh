#!/usr/bin/env bash
# Copies the base v3 campaign's checkpoint, logs and learning curve from the
# running workdir into training-state/, ready to commit (scripts/train-base-v3.sh).
# Commit it at most twice per working period: each copy is a new file version.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/base-v3}
cp "$WORK/checkpoint.pt" training-state/scc-base-v3.checkpoint.pt
for f in train_log.jsonl val_log.jsonl; do
    cp "$WORK/$f" "training-state/scc-base-v3.$f"
done
.venv/bin/python scripts/learning-curve.py "$WORK" --out training-state/scc-base-v3.curve
