#!/usr/bin/env bash
# Students on real images, end to end (docs/TRAINING.md "Students on image folders"):
# Fashion-MNIST written out as JPEGs of 40–112 px, a resnet8 teacher trained here at TEACHER_PX px on
# RandomResizedCrop views, exported, precomputed over the folder with 4 rrc views (no --preprocess:
# the export carries its eval transform), then resnet8 students at 32 px: CE baseline and KD from
# the 4-view cache (each view rebuilt at the student's size from the same box). Peak RSS of the
# KD student at 2 and at EPOCHS epochs shows whether memory stays flat over epochs.
#
#   bash scripts/students-on-folders.sh [OUT_DIR] [EPOCHS] [TRAIN_IMAGES] [TEACHER_PX]
#   (defaults: out/folders, 6, 10000, 64; the test split is a fifth of TRAIN_IMAGES)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/folders}
EPOCHS=${2:-6}
NTRAIN=${3:-10000}
TPX=${4:-64}
DATA=$OUT/fmnist-jpeg
mkdir -p "$OUT"
tfkd() { node bin/tfkd.js "$@"; }
peak() { /usr/bin/time -f '%M' -o "$1" node bin/tfkd.js "${@:2}"; }   # tfkd, its peak RSS in KiB into $1

[ -d "$DATA/train" ] || npx tsx scripts/make-fmnist-jpegs.ts --out "$DATA" --train "$NTRAIN" --test $((NTRAIN / 5))
tfkd data info "folder:$DATA" | head -6
[ -f "$OUT/teacher/summary.json" ] || tfkd train --data "folder:$DATA" --model resnet8 --input-size "$TPX" --loss ce \
  --augment rrc:0.35-1,flip --epochs "$EPOCHS" --batch 128 --seed 1 --out "$OUT/teacher" --progress off
tfkd export "$OUT/teacher" --out "$OUT/teacher.onnx"
tfkd precompute --teacher "$OUT/teacher.onnx" --data "folder:$DATA" --views 4 --augment rrc:0.35-1,flip \
  --augment-seed 7 --out "$OUT/cache-4v" --progress off
tfkd eval "$OUT/teacher.onnx" --data "folder:$DATA" | sed -n 3,5p
[ -f "$OUT/ce/summary.json" ] || tfkd train --data "folder:$DATA" --model resnet8 --input-size 32 --loss ce \
  --augment rrc:0.35-1,flip --epochs "$EPOCHS" --batch 128 --seed 1 --out "$OUT/ce" --progress off
rm -rf "$OUT/kd-2" "$OUT/kd"
peak "$OUT/kd-2.rss" train --data "folder:$DATA" --model resnet8 --input-size 32 --loss kd --cache "$OUT/cache-4v" \
  --alpha 0.5 --temperature 4 --epochs 2 --batch 128 --seed 1 --out "$OUT/kd-2" --progress off
peak "$OUT/kd.rss" train --data "folder:$DATA" --model resnet8 --input-size 32 --loss kd --cache "$OUT/cache-4v" \
  --alpha 0.5 --temperature 4 --epochs "$EPOCHS" --batch 128 --seed 1 --out "$OUT/kd" --progress off
echo "peak RSS: kd 2 epochs $(( $(cat "$OUT/kd-2.rss") / 1024 )) MiB, kd $EPOCHS epochs $(( $(cat "$OUT/kd.rss") / 1024 )) MiB"
tfkd export "$OUT/kd" --out "$OUT/student.onnx"
tfkd eval "$OUT/kd" --data "folder:$DATA" | sed -n 3,5p
tfkd eval "$OUT/student.onnx" --data "folder:$DATA" | sed -n 3,5p
