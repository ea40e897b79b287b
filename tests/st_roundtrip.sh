#!/usr/bin/env bash
# safetensors round trip through PyTorch: C writes a/b, torch checks them and
# writes c, C checks c. Exit 77 (skip) when PYTHON cannot import torch.
# usage: st_roundtrip.sh CHECK_BIN PYTHON SCRIPT
set -euo pipefail
check=$1 py=$2 script=$3
"$py" -c 'import torch, numpy' 2>/dev/null || { echo "st_roundtrip: $py has no torch: skipped"; exit 77; }
dir=$(mktemp -d /tmp/thinkrl_st_rt.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export PYTHONDONTWRITEBYTECODE=1
"$check" write "$dir"
"$py" "$script" check "$dir"
"$py" "$script" write "$dir"
"$check" compare "$dir"
