#!/usr/bin/env bash
# Ablation on the CPU: same budget per run (30 epochs, 1 thread), AFLW2000-3D train split (validation tenth held out).
set -u
cd "$(dirname "$0")/.."  # the repository root; runs go to runs/ab/ (git-ignored)
common="--data ../shared/data/aflw2000-3d --format aflw2000 --split train --batch-size 32 --lr 2e-3 --threads 1 --epochs 30 --no-progress"
run() { name=$1; shift; [ -f runs/ab/$name/done ] && return; python3 -m asmnet train $common --out runs/ab/$name "$@" > runs/ab/$name.log 2>&1 && touch runs/ab/$name/done; }
mkdir -p runs/ab
run in_asm_s0 --init imagenet --alpha 2,1,0.5,0 --seed 0
run in_noasm_s0 --init imagenet --alpha off --seed 0
run rand_asm_s0 --alpha 2,1,0.5,0 --seed 0
run rand_noasm_s0 --alpha off --seed 0
run in_asm_s1 --init imagenet --alpha 2,1,0.5,0 --seed 1
run in_noasm_s1 --init imagenet --alpha off --seed 1
run in_asm_160_s0 --init imagenet --alpha 2,1,0.5,0 --seed 0 --input-size 160
run in_asm_lr1e-3_s0 --init imagenet --alpha 2,1,0.5,0 --seed 0 --lr 1e-3
run in_asm_lr4e-3_s0 --init imagenet --alpha 2,1,0.5,0 --seed 0 --lr 4e-3
