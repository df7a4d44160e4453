#!/bin/bash
# tfkd precompute as a Slurm job array: 8 tasks, each computes one contiguous part of the data set
# into its own partial cache; a dependent job merges and verifies them.
#
#   sbatch docs/slurm-array.sh
#
# `--shards 8` takes this task's index from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN and checks
# it against SLURM_ARRAY_TASK_COUNT (use `--shard auto` to take N from SLURM_ARRAY_TASK_COUNT too).
# A requeued or pre-empted task resumes its part where it stopped (same command, same --out).
#SBATCH --job-name=tfkd-precompute
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --requeue
# #SBATCH --gres=gpu:1            # with --device cuda
#SBATCH --output=logs/precompute-%A_%a.log
set -euo pipefail

CACHE=${CACHE:-/scratch/$USER/tfkd/cifar10-train}
PARTS="$CACHE.parts"
mkdir -p "$PARTS" logs

if [[ "${1:-}" == "--merge" ]]; then
  node bin/tfkd.js merge "$PARTS"/part-* --out "$CACHE"
  node bin/tfkd.js verify "$CACHE"
  exit 0
fi

node bin/tfkd.js precompute \
  --teacher models/teacher.onnx \
  --data cifar10:/datasets/cifar-10-batches-bin --split train \
  --dtype f16 --views 4 --augment crop:4,flip --augment-seed 0 \
  --device auto --threads "${SLURM_CPUS_PER_TASK:-4}" --batch 256 \
  --shards 8 \
  --out "$PARTS/part-${SLURM_ARRAY_TASK_ID}" \
  --progress json

# The last task to start queues the merge once the whole array has succeeded.
if [[ "${SLURM_ARRAY_TASK_ID}" == "${SLURM_ARRAY_TASK_MAX:-7}" ]]; then
  sbatch --dependency=afterok:"${SLURM_ARRAY_JOB_ID}" --job-name=tfkd-merge \
    --output=logs/merge-%j.log --wrap "bash docs/slurm-array.sh --merge"
fi
