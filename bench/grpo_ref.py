#!/usr/bin/python3
"""PyTorch reference GRPO step for bench/grpo_step.sh (run with
/usr/bin/python3): the work of one `thinkrl rl` step of
configs/rl_grpo_arith.yaml on the same weights (HF config.json + safetensors
written by thinkrl), in float32 on the CPU.

  grpo_ref.py --model DIR [--prompts 16] [--n 8] [--new 64] [--micro-batch 32]
              [--digits 3] [--steps 2] [--warmup 1] [--threads 2] [--seed 1]
              [--json]

One step, each phase timed with time.perf_counter:
  generate   P arith prompts "A+B=" (A, B with --digits digits, so every
             prompt has the same length), each repeated G (--n) times, all
             P*G rows decoded together with bench_generate.py's KV-cache
             decoder: one batched prefill, then --new one-token steps,
             temperature-1 sampling, the log-prob of every sampled token kept
             (the "old" log-probs of the ratio), eos ignored.
  score      decode every response to bytes through tokenizer.json, reward
             accuracy + 0.1 * format (format: <think>..</think><answer>..
             </answer> once, nothing around it but whitespace; accuracy: the
             answer equals A+B), then GRPO advantages (r - group mean) /
             (group std + 1e-6).
  reference  a second copy of the model (no grad, inference mode) scores
             prompt + response (last token dropped) in micro-batches of
             --micro-batch rows: log-probs of the response tokens.
  update     the policy forward + backward over the same rows in micro-batches
             of --micro-batch: clipped surrogate (eps 0.2) + 0.04 * k3 KL to
             the reference, per-token entropy (logged, no grad), seq-mean-
             token-mean over all P*G rows (each micro-batch's loss scaled so
             the accumulated gradient is that of the whole batch), grad-norm
             clip 1.0, one torch.optim.AdamW step (lr 1e-4, weight decay 0).
The model is tests/pyref/model.py's BenchModel (float32, fused q/k/v and
gate/up), the decoder bench_generate.CachedDecoder. step_s (total) is the wall
time of the whole step. Timed steps follow --warmup untimed ones; the JSON
line holds the mean of each phase over the timed steps and every step's
values.

Ids the tokenizer does not have (`thinkrl init` gives micro 2048 embedding
rows but 264 tokenizer ids) decode to nothing, as in thinkrl and Hugging Face.

Threads: as bench_train.py, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS default
to --threads and OMP_WAIT_POLICY to PASSIVE, set before torch is imported.
"""

import argparse
import json
import os
import re
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torchenv  # noqa: E402

torch = F = pm = stio = bg = None


def import_torch(threads):
    global torch, F, pm, stio, bg
    torch, F, pm, stio = torchenv.import_torch(threads)
    import bench_generate
    bench_generate.import_torch(threads)
    bg = bench_generate


# ---------------------------------------------------------------- tokenizer --

def bytes_to_unicode():
    """GPT-2's byte -> printable character map of the ByteLevel tokenizers."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def id_bytes(d, V):
    """id -> bytes as the response text decodes (special tokens skipped)."""
    with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    u2b = {u: b for b, u in bytes_to_unicode().items()}
    out = [b""] * V
    for s, i in t["model"]["vocab"].items():
        if i < V:
            out[i] = bytes(u2b[ch] for ch in s)
    for a in t.get("added_tokens", []):
        if a["id"] < V:
            out[a["id"]] = b"" if a.get("special") else a["content"].encode("utf-8")
    return out


# ------------------------------------------------------------------- reward --

FORMAT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.S)


def reward(text, answer):
    m = FORMAT.fullmatch(text)
    fmt = m is not None and text.count("<think>") == 1 and text.count("<answer>") == 1
    ans = m.group(2) if m else None
    if ans is None:   # accuracy needs only the answer tags
        a = re.findall(r"<answer>(.*?)</answer>", text, re.S)
        ans = a[-1] if a else None
    acc = 0.0
    if ans is not None:
        try:
            acc = 1.0 if int(ans.strip()) == answer else 0.0
        except ValueError:
            pass
    return acc + 0.1 * (1.0 if fmt else 0.0)


# --------------------------------------------------------------------- step --

def response_logp(model, ids, P, resp, ent=None):
    """ids (B, P+N-1) -> log-probs (B, N) of resp under model; ent: entropy
    (B, N) written without grad when given."""
    logits = model(ids)[:, P - 1:]
    logp = torch.log_softmax(logits, dim=-1)
    if ent is not None:
        with torch.no_grad():
            ent.copy_(-(logp.exp() * logp).sum(-1))
    return logp.gather(-1, resp[..., None])[..., 0]


def grpo_step(a, pol, ref, opt, itob, rng, gen):
    P0, G, N, mb = a.prompts, a.n, a.new, a.micro_batch
    lo, hi = 10 ** (a.digits - 1), 10 ** a.digits - 1
    pairs = [(rng.randint(lo, hi), rng.randint(lo, hi)) for _ in range(P0)]
    t = {}
    t0 = time.perf_counter()
    # generate
    prompts = torch.tensor([list(("%d+%d=" % p).encode()) for p in pairs], dtype=torch.long)
    P = prompts.shape[1]
    rows = prompts.repeat_interleave(G, 0)                      # (P0*G, P), groups contiguous
    with torch.inference_mode():
        resp, old = bg.generate(pol, rows, N, gen)
    resp, old = resp.clone(), old.clone()
    t1 = time.perf_counter()
    t["gen_s"] = t1 - t0
    # score + advantages
    r = torch.tensor([reward(b"".join(itob[i] for i in resp[k].tolist()).decode("utf-8", "replace"),
                             sum(pairs[k // G])) for k in range(P0 * G)], dtype=torch.float32).view(P0, G)
    adv = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-6)).reshape(-1)
    t2 = time.perf_counter()
    t["score_s"] = t2 - t1
    # reference log-probs
    seq = torch.cat([rows, resp], 1)[:, :-1]                   # prompt + response, last token dropped
    B = seq.shape[0]
    with torch.inference_mode():
        ref_lp = torch.cat([response_logp(ref, seq[s:s + mb], P, resp[s:s + mb]) for s in range(0, B, mb)])
    ref_lp = ref_lp.clone()
    t3 = time.perf_counter()
    t["ref_s"] = t3 - t2
    # update
    opt.zero_grad(set_to_none=True)
    ent = torch.empty(B, N)
    tot = 0.0
    for s in range(0, B, mb):
        e = min(B, s + mb)
        lp = response_logp(pol, seq[s:e], P, resp[s:e], ent[s:e])
        ratio = torch.exp(lp - old[s:e])
        A = adv[s:e, None]
        pg = -torch.minimum(ratio * A, ratio.clamp(1 - a.eps, 1 + a.eps) * A)
        d = ref_lp[s:e] - lp
        kl = torch.exp(d) - d - 1                                # k3
        loss = ((pg + a.beta * kl).mean(1)).sum() / B            # seq-mean-token-mean
        loss.backward()
        tot += loss.item()
    gnorm = torch.nn.utils.clip_grad_norm_(pol.parameters(), 1.0)
    opt.step()
    t4 = time.perf_counter()
    t["update_s"] = t4 - t3
    t["step_s"] = t4 - t0
    info = {"reward_mean": r.mean().item(), "loss": tot, "grad_norm": gnorm.item(),
            "entropy": ent.mean().item(), "prompt_len": P}
    return t, info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="directory with config.json, model.safetensors, tokenizer.json")
    ap.add_argument("--prompts", type=int, default=16, help="prompts per step (default 16)")
    ap.add_argument("--n", type=int, default=8, help="responses per prompt (default 8)")
    ap.add_argument("--new", type=int, default=64, help="new tokens per response (default 64)")
    ap.add_argument("--micro-batch", type=int, default=32, help="rows per forward/backward (default 32)")
    ap.add_argument("--digits", type=int, default=3, help="digits of each operand (default 3)")
    ap.add_argument("--steps", type=int, default=2, help="timed steps (default 2)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.04, help="k3 KL coefficient (default 0.04)")
    ap.add_argument("--eps", type=float, default=0.2, help="ratio clip (default 0.2)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    a = ap.parse_args()
    if not a.model:
        ap.error("--model DIR is required")
    if min(a.prompts, a.n, a.new, a.micro_batch, a.steps, a.digits) < 1 or a.n < 2:
        ap.error("sizes must be positive, --n at least 2")
    import_torch(a.threads)
    import random
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    w = bg.load_weights(a.model)
    pol = pm.BenchModel(cfg, w)
    ref = pm.BenchModel(cfg, w)
    del w
    pol.train()
    ref.eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(pol.parameters(), lr=a.lr, weight_decay=0.0)
    itob = id_bytes(a.model, pol.c["V"])
    rng = random.Random(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    steps = []
    for i in range(a.warmup + a.steps):
        t, info = grpo_step(a, pol, ref, opt, itob, rng, gen)
        if i >= a.warmup:
            steps.append(t)
        if not a.json:
            print("torch step %d%s: %s  %s" % (i + 1, " (warm-up)" if i < a.warmup else "",
                                               " ".join("%s %.2f" % kv for kv in t.items()),
                                               " ".join("%s %.4g" % kv for kv in info.items())))
    mean = {k: round(sum(s[k] for s in steps) / len(steps), 4) for k in steps[0]}
    res = {"impl": "torch", "prompts": a.prompts, "n": a.n, "new_tokens": a.new, "micro_batch": a.micro_batch,
           "prompt_len": info["prompt_len"], "threads": a.threads, "timed_steps": len(steps)}
    res.update(mean)
    res["steps"] = [{k: round(v, 4) for k, v in s.items()} for s in steps]
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    res.update({k.lower(): os.environ.get(k, "") for k in torchenv.THREAD_ENV})
    res.update(torchenv.blas_info())
    print(json.dumps(res) if a.json else
          "torch mean of %d timed steps: %s" % (len(steps), " ".join("%s %.2f" % kv for kv in mean.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
