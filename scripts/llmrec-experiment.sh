#!/usr/bin/env bash
# Issue 8: the LLM rows of the README table on the fixed ML-1M evaluation sample — zero-shot,
# LoRA fine-tuned on the recommendation tasks, and on recommendation + auxiliary tasks — then the
# conventional baselines (popularity, SASRec, MUR) on the same users.
# Usage: scripts/llmrec-experiment.sh [USERS] [STEPS] [LORA_LAYERS]
#   RECFORGE_BIN (default target/release/recforge; build it with `cargo build --release -p recforge`)
#   MUR_RUN      a retrieval-zoo MUR folder for the baseline row (default runs/retrieval-zoo-ml1m/mur)
# Outputs under runs/llmrec/ (git-ignored); fine-tuned rows are reused if their summary.json exists.
set -euo pipefail
USERS=${1:-50}
STEPS=${2:-100}
LORA_LAYERS=${3:-10}
BIN=${RECFORGE_BIN:-target/release/recforge}
MODEL=data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
MUR_RUN=${MUR_RUN:-runs/retrieval-zoo-ml1m/mur}
OUT=runs/llmrec
mkdir -p "$OUT"
[ -f "$OUT/data/train.jsonl" ] || $BIN llm make-data --dataset ml1m --out "$OUT/data" --per-user 1 --seed 42
[ -f "$OUT/eval-zero-shot/results.json" ] || $BIN llm evaluate --model "$MODEL" --eval-set "$OUT/data/eval_users.jsonl" \
    --users "$USERS" --out "$OUT/eval-zero-shot"
for row in rec rec-aux; do
  tasks=retrieval,ranking,rating
  [ "$row" = rec-aux ] && tasks=retrieval,ranking,rating,mim,mlm,bpr
  [ -f "$OUT/ft-$row/summary.json" ] || $BIN llm finetune --data "$OUT/data" --model "$MODEL" --tasks "$tasks" \
      --lora-rank 8 --lora-layers "$LORA_LAYERS" --steps "$STEPS" --batch-size 4 --grad-accum 2 --warmup 10 --out "$OUT/ft-$row"
  $BIN llm evaluate --model "$MODEL" --adapters "$OUT/ft-$row" --eval-set "$OUT/data/eval_users.jsonl" \
      --users "$USERS" --out "$OUT/eval-$row"
done
MUR_ARGS=()
[ -d "$MUR_RUN" ] && MUR_ARGS=(--mur-run "$MUR_RUN")
# The baselines on exactly the users the LLM rows saw (the first USERS of the sample).
head -n "$USERS" "$OUT/data/eval_users.jsonl" > "$OUT/data/eval_users_first$USERS.jsonl"
$BIN llm baselines --eval-set "$OUT/data/eval_users_first$USERS.jsonl" "${MUR_ARGS[@]}" --out runs/llm-baselines
