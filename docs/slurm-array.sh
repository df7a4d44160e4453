#!/bin/bash
# tfkd precompute as a Slurm job array: each task computes one contiguous part of the data set into
# CACHE.parts/part-I; the task that completes the last missing part merges them into CACHE.
#
#   sbatch [sbatch options] docs/slurm-array.sh --teacher M.onnx --data SPEC --out CACHE [precompute options]
#
# Every option but --out and --shards goes to `tfkd precompute` as given (--split, --dtype, --views,
# --augment, --device, --batch …; --threads defaults to the task's CPUs). The array indices are the
# part indices: --array=0-15 makes 16 parts (default 0-7). Relative paths are relative to the
# directory sbatch was run in. `tfkd` is this checkout's bin/tfkd.js, else the one on PATH.
# Options of this script only:
#   --shards N   the number of parts of the whole job: required when only some indices are
#                (re)submitted (`sbatch --array=3 … --shards 8`); default: the array's task count
#   --link       merge with `tfkd merge --link` (the merged manifest references the parts' shard
#                files in place: seconds instead of a copy; keep CACHE.parts)
#
# Each task prints the one command that resubmits it. A task that failed, was cancelled or timed
# out is run again with that command (or by resubmitting the whole array: complete parts are kept,
# an interrupted part resumes where it stopped); whichever task completes the last part merges, so
# no dependency ever has to be edited. A node failure or pre-emption is requeued by Slurm (--requeue)
# and resumes the same way. Logs: tfkd-precompute-<job>_<index>.log in the directory sbatch was run in.
#SBATCH --job-name=tfkd-precompute
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --requeue
# #SBATCH --gres=gpu:1            # with --device cuda
#SBATCH --output=%x-%A_%a.log
set -euo pipefail

say() { printf 'tfkd-precompute: %s\n' "$*"; }
die() {
  printf 'tfkd-precompute: %s\n' "$*" >&2
  exit 2
}

# ---- arguments: --out and --shards are this script's, --link too; the rest is precompute's ----
all_args=("$@")
out="" shards="" link=0 threads=1
fwd=()
while (($#)); do
  case $1 in
    --out) (($# >= 2)) || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --shards) (($# >= 2)) || die "--shards needs a number"; shards=$2; shift 2 ;;
    --shards=*) shards=${1#--shards=}; shift ;;
    --shard | --shard=*) die "the part comes from the array index: give --shards N (the number of parts), not --shard" ;;
    --link) link=1; shift ;;
    --threads | --threads=*) threads=0; fwd+=("$1"); shift ;;
    *) fwd+=("$1"); shift ;;
  esac
done
[[ -n $out ]] || die "give --out CACHE (the merged cache; the parts go to CACHE.parts/part-I)"
while [[ $out == */ && $out != / ]]; do out=${out%/}; done
[[ -n ${SLURM_ARRAY_TASK_ID:-} ]] || die "run this script as a Slurm job array: sbatch [sbatch options] $0 --teacher M.onnx --data SPEC --out CACHE"

# ---- which part, of how many: the array index is the part index ----
I=$SLURM_ARRAY_TASK_ID
if [[ -n $shards ]]; then
  [[ $shards =~ ^[1-9][0-9]*$ ]] || die "--shards $shards: expected a positive integer"
  N=$shards
else
  N=$SLURM_ARRAY_TASK_COUNT
  if ((SLURM_ARRAY_TASK_MIN != 0 || SLURM_ARRAY_TASK_MAX != N - 1)); then
    die "--array=${SLURM_ARRAY_TASK_MIN}-${SLURM_ARRAY_TASK_MAX} (${N} tasks) is not the whole job 0-$((N - 1)): add --shards N, the number of parts of the whole job"
  fi
fi
((I < N)) || die "array index $I is not a part of $N (the indices are the parts 0-$((N - 1)))"

# ---- tfkd and this script: sbatch runs a copy of the script from slurmd's spool, so its own path
# says nothing; Slurm keeps the path it was submitted as (relative to the submit directory) in the
# job's Command, followed by the arguments ----
self=""
if [[ -f "$(dirname "${BASH_SOURCE[0]}")/../bin/tfkd.js" ]]; then self=${BASH_SOURCE[0]}; fi
if [[ -z $self && -n ${SLURM_JOB_ID:-} ]]; then
  cmd=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *Command=//p' | head -n 1) || cmd=""
  if ((${#all_args[@]})); then cmd=${cmd%" ${all_args[*]}"}; fi
  if [[ -n $cmd && $cmd != /* ]]; then cmd=${SLURM_SUBMIT_DIR:-$PWD}/$cmd; fi
  if [[ -n $cmd && -f $cmd ]]; then self=$cmd; fi
fi
if [[ -n $self ]]; then self=$(cd "$(dirname "$self")" && pwd)/$(basename "$self"); fi
if [[ -n $self && -f "$(dirname "$self")/../bin/tfkd.js" ]]; then
  tfkd=(node "$(cd "$(dirname "$self")/.." && pwd)/bin/tfkd.js")
elif command -v tfkd >/dev/null; then
  tfkd=(tfkd)
else
  die "tfkd not found: neither beside this script (../bin/tfkd.js) nor on PATH (npm install -g tfkd)"
fi
((threads)) && fwd+=(--threads "${SLURM_CPUS_PER_TASK:-1}")

parts="$out.parts"
part="$parts/part-$I"
resubmit=(sbatch --array="$I" --chdir="$PWD")
[[ -n ${SLURM_JOB_PARTITION:-} ]] && resubmit+=(--partition="$SLURM_JOB_PARTITION")
resubmit+=("${self:-slurm-array.sh}" "${all_args[@]}")
[[ -n $shards ]] || resubmit+=(--shards "$N")
say "part $I/$N of $out -> $part (tfkd: ${tfkd[*]})"
say "to run this part again (failed, cancelled, timed out): $(printf '%q ' "${resubmit[@]}")"

mkdir -p "$parts"
"${tfkd[@]}" precompute "${fwd[@]}" --shard "$I/$N" --out "$part"

# ---- the merge: whichever task sees every part complete merges (under a lock, so one at a time;
# a second merge of the same parts finds the cache complete and does nothing) ----
missing=()
for ((i = 0; i < N; i++)); do [[ -f $parts/part-$i/manifest.json ]] || missing+=("$i"); done
if ((${#missing[@]})); then
  say "part $I/$N complete; parts ${missing[*]} of $N are not (yet): the task that completes the last of them merges"
  exit 0
fi
exec 9>>"$parts/.merge.lock"
if command -v flock >/dev/null; then flock 9; fi
merged_before=0
[[ -f $out/manifest.json ]] && merged_before=1
part_dirs=()
for ((i = 0; i < N; i++)); do part_dirs+=("$parts/part-$i"); done
merge_opts=()
((link)) && merge_opts+=(--link)
"${tfkd[@]}" merge "${part_dirs[@]}" --out "$out" "${merge_opts[@]}"
if ((merged_before)); then
  say "all $N parts complete; $out was merged already"
else
  "${tfkd[@]}" verify "$out"
  say "all $N parts complete; merged into $out"
fi
