#!/usr/bin/env bash
# Trains models/tiny-shapes from scratch: every stage of README.md's recipe, in order, two
# processes per stage (train.py --procs 2, one per core), then exports the folder.
#   tools/train-shapes/reproduce.sh [WORK_DIR] [OUT_FOLDER]
# WORK_DIR keeps each stage's checkpoint and log.tsv; a stopped run resumes where it stopped
# when started again with the same WORK_DIR. OUT_FOLDER must not exist yet.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-/tmp/tiny-shapes-train}"
out="${2:-$work/tiny-shapes}"
if [ -e "$out" ]; then
  echo "reproduce.sh: $out already exists; name a new folder" >&2
  exit 2
fi
python=/usr/bin/python3
export OMP_NUM_THREADS=1
train() { "$python" "$here/train.py" --procs 2 "$@"; }
mkdir -p "$work"
cd "$here"

train --out "$work/stage1" --steps 20000 --save-every 1000 --preprocessor preprocessor_stage1.json
train --out "$work/stage2" --init "$work/stage1/ckpt.pt" --steps 8000 --lr 1.5e-3 --warmup 100 --save-every 500 \
  --kinds shape=2,color=3,count=1.5,side=3,compare=1,sum=0.5,motion=1
[ -d "$work/stage2-folder" ] || "$python" export.py --ckpt "$work/stage2/ckpt.pt" --out "$work/stage2-folder"
train --out "$work/stage3a" --init "$work/stage2-folder" --steps 3000 --lr 1e-3 --warmup 50 --save-every 250 \
  --kinds side_single=4,side=2,shape=1,color=1,count=1,compare=0.5,sum=0.3,motion=2
train --out "$work/stage3b" --init "$work/stage3a/ckpt.pt" --steps 6000 --lr 1e-3 --warmup 50 --save-every 250 \
  --kinds side=4,side_single=1,shape=1,color=1.5,count=1.5,compare=0.5,sum=0.3,motion=1
train --out "$work/stage3c" --init "$work/stage3b/ckpt.pt" --steps 3000 --lr 5e-4 --warmup 50 --save-every 250 --seed 11 \
  --kinds side=5,side_single=0.5,shape=1,color=1.5,count=2,compare=0.5,sum=0.3,motion=1
train --out "$work/stage3d" --init "$work/stage3c/ckpt.pt" --steps 4000 --lr 1e-3 --warmup 50 --save-every 250 --seed 12 \
  --kinds side_same_shape=4,side=2,side_single=0.5,shape=1,color=1.5,count=2,compare=0.5,sum=0.3,motion=1
train --out "$work/stage3e" --init "$work/stage3d/ckpt.pt" --steps 4000 --lr 5e-4 --warmup 50 --save-every 250 --seed 13 \
  --kinds side_same_shape=3,side=3,side_single=0.5,shape=1,color=1.5,count=2,compare=0.5,sum=0.3,motion=1
train --out "$work/stage3f" --init "$work/stage3e/ckpt.pt" --steps 3000 --lr 3e-4 --warmup 50 --save-every 250 --seed 14 \
  --kinds side_same_shape=3,side=3,side_single=0.5,shape=1,color=1.5,count=2,compare=0.5,sum=0.3,motion=1
"$python" export.py --ckpt "$work/stage3f/ckpt.pt" --out "$out"
echo "reproduce.sh: $out written"
