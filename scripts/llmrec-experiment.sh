#!/usr/bin/env bash
# Issue 8 (first half): zero-shot, rec-only and rec+aux LoRA rows on the fixed ML-1M sample.
# Usage: scripts/llmrec-experiment.sh [USERS] [STEPS]   (debug binary; runs/ is git-ignored)
set -euo pipefail
USERS=${1:-50}
STEPS=${2:-30}
BIN=${RECFORGE_BIN:-target/debug/recforge}
MODEL=data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=runs/llmrec
mkdir -p "$OUT"
[ -f "$OUT/data/train.jsonl" ] || $BIN llm make-data --dataset ml1m --out "$OUT/data" --per-user 1 --seed 42
$BIN llm evaluate --model "$MODEL" --eval-set "$OUT/data/eval_users.jsonl" --users "$USERS" --out "$OUT/eval-zero-shot"
for row in rec rec-aux; do
  tasks=retrieval,ranking,rating
  [ "$row" = rec-aux ] && tasks=retrieval,ranking,rating,mim,mlm,bpr
  [ -f "$OUT/ft-$row/summary.json" ] || $BIN llm finetune --data "$OUT/data" --model "$MODEL" --tasks "$tasks" \
      --lora-rank 8 --steps "$STEPS" --batch-size 4 --grad-accum 2 --warmup 3 --out "$OUT/ft-$row"
  $BIN llm evaluate --model "$MODEL" --adapters "$OUT/ft-$row" --eval-set "$OUT/data/eval_users.jsonl" \
      --users "$USERS" --out "$OUT/eval-$row"
done
