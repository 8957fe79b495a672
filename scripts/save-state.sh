#!/usr/bin/env bash
# Copies a training campaign's checkpoint, logs and learning curve from its
# running workdir into training-state/, ready to commit:
#   scripts/save-state.sh                                      # base v3 with its context model (scripts/train-base-v3.sh)
#   scripts/save-state.sh runs/context-v2 scc-context-v2       # a context model over frozen v2 (scripts/train-context-v2.sh)
# Commit it at most twice per working period: each copy is a new file version.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/base-v3c}
NAME=${2:-scc-base-v3c}
cp "$WORK/checkpoint.pt" "training-state/$NAME.checkpoint.pt"
for f in train_log.jsonl val_log.jsonl; do
    cp "$WORK/$f" "training-state/$NAME.$f"
done
# base v3's reference is v2's (scripts/train-base-v3.sh copies it from there).
if [[ "$NAME" != scc-base-v3* ]]; then
    cp "$WORK/val_reference.json" "training-state/$NAME.val_reference.json"
fi
.venv/bin/python scripts/learning-curve.py "$WORK" --out "training-state/$NAME.curve"
