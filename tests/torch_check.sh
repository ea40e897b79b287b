#!/usr/bin/env bash
# Generates a PyTorch reference case and compares the C model with it.
# usage: torch_check.sh PYTHON CHECK_BIN CASE WORKDIR [adamw]
set -euo pipefail
py=$1 check=$2 case=$3 work=$4 mode=${5:-model}
here=$(cd "$(dirname "$0")" && pwd)
dir="$work/torch_$case"
rm -rf "$dir" && mkdir -p "$dir"
"$py" "$here/torch_ref.py" model --case "$case" --out "$dir" --seed 7
"$check" model "$dir"
if [ "$mode" = adamw ]; then
  "$py" "$here/torch_ref.py" adamw --dir "$dir" --steps 10 --lr 3e-3 --betas 0.9,0.95 --eps 1e-8 --wd 0.1 --clip 1.0
  "$check" adamw "$dir"
fi
