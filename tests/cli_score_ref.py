"""Checks `thinkrl score --json` output against the float64 PyTorch reference.
usage: cli_score_ref.py MODEL_DIR IDS(comma-separated) SCORE_JSON_FILE"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import model as pm  # noqa: E402
from pyref import stio  # noqa: E402

d, ids_s, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open(os.path.join(d, "config.json")) as f:
    cfg = json.load(f)
m = pm.RefModel(cfg, stio.read_safetensors(os.path.join(d, "model.safetensors")), requires_grad=False)
ids = torch.tensor([[int(x) for x in ids_s.split(",")]], dtype=torch.int64)
T = ids.shape[1]
pos = torch.arange(T).unsqueeze(0)
seg = torch.zeros_like(ids)
with torch.no_grad():
    lp = torch.log_softmax(m.forward(ids, pos, seg), dim=-1)[0]
ref = [lp[j, ids[0, j + 1]].item() for j in range(T - 1)]
with open(out) as f:
    got = json.load(f)["logprobs"]
assert len(got) == len(ref), "expected %d log-probs, got %d" % (len(ref), len(got))
worst = max(abs(a - b) / max(abs(b), 1e-3) for a, b in zip(got, ref))
print("thinkrl score vs PyTorch: %d log-probs, worst relative error %.3g" % (len(ref), worst))
sys.exit(0 if worst < 1e-5 else 1)
