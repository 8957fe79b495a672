# Sourced by the training scripts: resume_from STATE WORK copies a run's
# saved checkpoint and logs (training-state/STATE.*) into its workdir when
# the workdir holds no checkpoint yet.
resume_from() {
    mkdir -p "$2"
    if [ ! -f "$2/checkpoint.pt" ] && [ -f "$1.checkpoint.pt" ]; then
        for f in checkpoint.pt train_log.jsonl val_log.jsonl val_reference.json; do
            cp "$1.$f" "$2/$f"
        done
    fi
}
