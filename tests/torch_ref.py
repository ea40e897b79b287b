#!/usr/bin/python3
"""Reference data for the C model tests, computed in float64 by the plain-torch
decoder in tests/pyref/model.py (run with Debian's /usr/bin/python3: torch).

  torch_ref.py model --case CASE --out DIR [--seed S]
      CASE: qwen2-leftpad qwen2-packed qwen2-mask llama-leftpad llama-packed.
      Writes DIR/config.json, DIR/model.safetensors (random float32 weights),
      DIR/batch.safetensors (ids pos seg targets [mask] w u) and
      DIR/ref.safetensors (logits logp entropy valid loss_ce loss_lp
      grad_ce.<name> grad_lp.<name>).
  torch_ref.py adamw --dir DIR [--steps 10] [--lr 1e-2] [--betas 0.9,0.95]
      [--eps 1e-8] [--wd 0.1] [--clip 1.0]
      torch.optim.AdamW on loss_ce of DIR's batch; writes DIR/adamw_ref.safetensors
      (losses, gnorms: loss before each step, grad norm before clipping).
  torch_ref.py selfcheck
      Checks the reference itself (gradcheck, a loop-by-loop NumPy decoder,
      padding/packing/mask equivalences); exits non-zero on failure.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyref"))
import model as pm  # noqa: E402
import stio  # noqa: E402

B_CASE, T_CASE = 3, 17
CASES = ["qwen2-leftpad", "qwen2-packed", "qwen2-mask", "llama-leftpad", "llama-packed"]


# ---------------------------------------------------------------------------
# configs and batches

def qwen2_config():
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_act": "silu",
        "hidden_size": 64,
        "intermediate_size": 160,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 97,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "tie_word_embeddings": False,
        "use_sliding_window": False,
        "sliding_window": 256,
        "max_window_layers": 3,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def llama_config():
    # head_dim 16 is given explicitly (hidden/heads would be 8). With theta
    # 500000 the wavelengths 2*pi*theta^(2i/16) are 6.3, 32.2, 167, ...: with
    # original_max_position_embeddings 64 and factors 1 / 4 the thresholds are
    # 16 and 64, so i=0 keeps, i=1 is smoothed and i>=2 are divided by 8.
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "vocab_size": 89,
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def layout_leftpad(B, T, pads):
    """Left padding: pads get seg -1 and pos 0; real tokens pos 0.."""
    seg = torch.full((B, T), -1, dtype=torch.int32)
    pos = torch.zeros((B, T), dtype=torch.int32)
    for b, n in enumerate(pads):
        seg[b, n:] = 0
        pos[b, n:] = torch.arange(T - n, dtype=torch.int32)
    return pos, seg


def layout_packed(B, T, docs):
    """docs[b] = list of document lengths; the rest of the row is padding."""
    seg = torch.full((B, T), -1, dtype=torch.int32)
    pos = torch.zeros((B, T), dtype=torch.int32)
    for b, lens in enumerate(docs):
        t = 0
        for d, n in enumerate(lens):
            seg[b, t:t + n] = d
            pos[b, t:t + n] = torch.arange(n, dtype=torch.int32)
            t += n
        assert t <= T
    return pos, seg


def case_mask(B, T):
    """Causal, with some past keys blocked and some future keys opened
    (Quiet-STaR-like); the diagonal always stays visible."""
    m = torch.zeros((B, T, T), dtype=torch.uint8)
    for b in range(B):
        for t in range(T):
            for s in range(T):
                if s == t:
                    ok = True
                elif s < t:
                    ok = (3 * t + 5 * s + b) % 7 != 0
                else:
                    ok = s <= t + 3 and (t + 2 * s + b) % 4 == 0
                m[b, t, s] = 1 if ok else 0
    return m


def next_targets(ids, seg):
    """Next token of the same document, -1 for the last token of a document
    and for padding."""
    B, T = ids.shape
    tg = torch.full((B, T), -1, dtype=torch.int32)
    same = (seg[:, :-1] >= 0) & (seg[:, 1:] == seg[:, :-1])
    tg[:, :-1] = torch.where(same, ids[:, 1:], torch.full_like(ids[:, 1:], -1))
    return tg


def make_batch(case, V, gen, B=B_CASE, T=T_CASE):
    kind = case.split("-", 1)[1]
    mask = None
    if kind == "leftpad":
        pos, seg = layout_leftpad(B, T, [0, 4, 9])
    elif kind == "packed":
        pos, seg = layout_packed(B, T, [[6, 11], [5, 4, 8], [7, 6]])
    elif kind == "mask":
        seg = torch.zeros((B, T), dtype=torch.int32)
        pos = torch.arange(T, dtype=torch.int32).repeat(B, 1)
        mask = case_mask(B, T)
        default = pm.visibility(seg.long())
        assert not torch.equal(default, mask != 0), "mask equals the default rule"
    else:
        raise ValueError(case)
    ids = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int64).to(torch.int32)
    targets = next_targets(ids, seg)
    w = torch.randn((B, T), generator=gen, dtype=torch.float64)
    u = torch.randn((B, T), generator=gen, dtype=torch.float64)
    # the files hold float32; compute with exactly those values
    w = w.float().double()
    u = u.float().double()
    return {"ids": ids, "pos": pos, "seg": seg, "targets": targets, "mask": mask, "w": w, "u": u}


def losses(model, batch):
    """(logits, logp, entropy, loss_ce, loss_lp) in the model's dtype."""
    logits = model.forward(batch["ids"], batch["pos"], batch["seg"], batch["mask"])
    logp, ent = pm.token_stats(logits, batch["targets"], batch["seg"].long())
    lce = pm.loss_ce(logits, batch["targets"])
    llp = (batch["w"] * logp).sum() + (batch["u"] * ent).sum()
    return logits, logp, ent, lce, llp


# ---------------------------------------------------------------------------
# model subcommand

def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def cmd_model(args):
    t0 = time.perf_counter()
    if args.case not in CASES:
        raise SystemExit("unknown case %s (one of %s)" % (args.case, ", ".join(CASES)))
    cfg = qwen2_config() if args.case.startswith("qwen2") else llama_config()
    p = pm.parse_config(cfg)
    gen = torch.Generator().manual_seed(args.seed)
    weights = pm.random_params(p, gen)  # float32
    batch = make_batch(args.case, p["V"], gen)

    model = pm.RefModel(cfg, weights, dtype=torch.float64)
    if p["llama3"] is not None:
        counts = model.rope_counts
        for k in ("keep", "divide", "smooth"):
            assert counts[k] >= 1, "llama3 branch %s never taken: %r" % (k, counts)
    logits, logp, ent, lce, llp = losses(model, batch)
    names = model.names()
    params = [model.params[n] for n in names]
    g_ce = torch.autograd.grad(lce, params, retain_graph=True)
    g_lp = torch.autograd.grad(llp, params)
    for t in [logits, logp, ent, lce, llp] + list(g_ce) + list(g_lp):
        assert torch.isfinite(t).all(), "non-finite reference values"
    valid = batch["seg"] >= 0

    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "config.json"), cfg)
    stio.write_safetensors(os.path.join(args.out, "model.safetensors"), weights,
                           metadata={"format": "pt"})
    bt = {"ids": batch["ids"], "pos": batch["pos"], "seg": batch["seg"],
          "targets": batch["targets"]}
    if batch["mask"] is not None:
        bt["mask"] = batch["mask"]
    bt["w"] = batch["w"].float()
    bt["u"] = batch["u"].float()
    stio.write_safetensors(os.path.join(args.out, "batch.safetensors"), bt,
                           metadata={"case": args.case, "seed": args.seed})
    ref = {
        "logits": logits.detach().float(),
        "logp": logp.detach().float(),
        "entropy": ent.detach().float(),
        "valid": valid.to(torch.uint8),
        "loss_ce": lce.detach().float().reshape(1),
        "loss_lp": llp.detach().float().reshape(1),
    }
    for n, g in zip(names, g_ce):
        ref["grad_ce." + n] = g.float()
    for n, g in zip(names, g_lp):
        ref["grad_lp." + n] = g.float()
    stio.write_safetensors(os.path.join(args.out, "ref.safetensors"), ref,
                           metadata={"case": args.case, "seed": args.seed, "dtype": "float64"})
    dt = time.perf_counter() - t0
    print("%s: loss_ce %.6f loss_lp %.6f, %d tensors, wrote %s in %.2fs"
          % (args.case, lce.item(), llp.item(), len(names), args.out, dt))
    return 0


# ---------------------------------------------------------------------------
# adamw subcommand

def load_dir(d, dtype=torch.float64):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    weights = stio.read_safetensors(os.path.join(d, "model.safetensors"))
    model = pm.RefModel(cfg, weights, dtype=dtype)
    bt = stio.read_safetensors(os.path.join(d, "batch.safetensors"))
    batch = {"ids": bt["ids"], "pos": bt["pos"], "seg": bt["seg"], "targets": bt["targets"],
             "mask": bt.get("mask"), "w": bt["w"].to(dtype), "u": bt["u"].to(dtype)}
    return model, batch


def cmd_adamw(args):
    model, batch = load_dir(args.dir)
    params = [model.params[n] for n in model.names()]
    b1, b2 = (float(x) for x in args.betas.split(","))
    # Weight decay applies to every parameter (norms, biases and embeddings
    # included): one param group. torch's AdamW decays first,
    # p *= 1 - lr*wd, then p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(b1, b2), eps=args.eps,
                            weight_decay=args.wd)
    losses_, gnorms = [], []
    for step in range(args.steps):
        opt.zero_grad(set_to_none=True)
        logits = model.forward(batch["ids"], batch["pos"], batch["seg"], batch["mask"])
        loss = pm.loss_ce(logits, batch["targets"])
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, args.clip)  # norm before clipping
        opt.step()
        losses_.append(loss.item())
        gnorms.append(float(gn))
        print("step %2d loss %.6f gnorm %.6f" % (step, losses_[-1], gnorms[-1]))
    stio.write_safetensors(os.path.join(args.dir, "adamw_ref.safetensors"), {
        "losses": torch.tensor(losses_, dtype=torch.float32),
        "gnorms": torch.tensor(gnorms, dtype=torch.float32),
    }, metadata={"steps": args.steps, "lr": args.lr, "betas": args.betas, "eps": args.eps,
                 "wd": args.wd, "clip": args.clip})
    return 0


# ---------------------------------------------------------------------------
# selfcheck

def naive_logits(cfg, weights, ids, pos, seg, mask):
    """Token-by-token, head-by-head NumPy float64 decoder written straight from
    FORMATS.md, sharing no code with pyref/model.py beyond config parsing."""
    p = pm.parse_config(cfg)
    W = {k: v.detach().double().numpy() for k, v in weights.items()}
    ids, pos, seg = ids.numpy(), pos.numpy(), seg.numpy()
    mask = None if mask is None else mask.numpy()
    B, T = ids.shape
    C, NH, KVH, HS, eps = p["C"], p["NH"], p["KVH"], p["HS"], p["eps"]
    G = NH // KVH
    half = HS // 2
    inv = 1.0 / (p["theta"] ** (np.arange(0, HS, 2, dtype=np.float64) / HS))
    if p["llama3"] is not None:
        r = p["llama3"]
        wl = 2 * np.pi / inv
        smooth = (r["orig"] / wl - r["low"]) / (r["high"] - r["low"])
        mid = (1 - smooth) * inv / r["factor"] + smooth * inv
        inv = np.where(wl < r["orig"] / r["high"], inv,
                       np.where(wl > r["orig"] / r["low"], inv / r["factor"], mid))

    def norm(x, w):
        return x / math.sqrt(float(np.dot(x, x)) / x.shape[0] + eps) * w

    def rot(x, q):  # x (HS,), position q
        out = np.empty_like(x)
        for i in range(half):
            a = q * inv[i]
            c, s = math.cos(a), math.sin(a)
            out[i] = x[i] * c - x[i + half] * s
            out[i + half] = x[i + half] * c + x[i] * s
        return out

    def sees(b, t, s):
        if seg[b, s] < 0:
            return False
        if mask is not None:
            return mask[b, t, s] != 0
        return s <= t and seg[b, s] == seg[b, t]

    def lin(name, x):
        y = W[name + ".weight"] @ x
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        return y

    x = np.zeros((B, T, C))
    for b in range(B):
        for t in range(T):
            x[b, t] = W["model.embed_tokens.weight"][ids[b, t]]
    for li in range(p["L"]):
        pre = "model.layers.%d." % li
        q = np.zeros((B, T, NH, HS))
        k = np.zeros((B, T, KVH, HS))
        v = np.zeros((B, T, KVH, HS))
        for b in range(B):
            for t in range(T):
                h = norm(x[b, t], W[pre + "input_layernorm.weight"])
                qq = lin(pre + "self_attn.q_proj", h).reshape(NH, HS)
                kk = lin(pre + "self_attn.k_proj", h).reshape(KVH, HS)
                v[b, t] = lin(pre + "self_attn.v_proj", h).reshape(KVH, HS)
                for hh in range(NH):
                    q[b, t, hh] = rot(qq[hh], pos[b, t])
                for hh in range(KVH):
                    k[b, t, hh] = rot(kk[hh], pos[b, t])
        xn = x.copy()
        for b in range(B):
            for t in range(T):
                o = np.zeros(NH * HS)
                for hh in range(NH):
                    j = hh // G
                    keys = [s for s in range(T) if sees(b, t, s)]
                    if not keys:
                        continue
                    sc = np.array([np.dot(q[b, t, hh], k[b, s, j]) / math.sqrt(HS) for s in keys])
                    e = np.exp(sc - sc.max())
                    a = e / e.sum()
                    o[hh * HS:(hh + 1) * HS] = sum(a[n] * v[b, s, j] for n, s in enumerate(keys))
                xn[b, t] = x[b, t] + lin(pre + "self_attn.o_proj", o)
                h = norm(xn[b, t], W[pre + "post_attention_layernorm.weight"])
                gt = lin(pre + "mlp.gate_proj", h)
                up = lin(pre + "mlp.up_proj", h)
                act = gt / (1.0 + np.exp(-gt)) * up
                xn[b, t] = xn[b, t] + lin(pre + "mlp.down_proj", act)
        x = xn
    head = W["model.embed_tokens.weight"] if p["tie"] else W["lm_head.weight"]
    out = np.zeros((B, T, p["V"]))
    for b in range(B):
        for t in range(T):
            out[b, t] = head @ norm(x[b, t], W["model.norm.weight"])
    return torch.from_numpy(out)


def tiny_configs():
    q = qwen2_config()
    q.update({"hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 2,
              "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 11})
    l = llama_config()
    l.update({"hidden_size": 8, "intermediate_size": 10, "num_hidden_layers": 1,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4,
              "vocab_size": 13, "attention_bias": True, "mlp_bias": True,
              "rope_theta": 100.0})
    l["rope_scaling"] = dict(l["rope_scaling"], original_max_position_embeddings=16)
    return {"tiny-qwen2": q, "tiny-llama": l}


class Checker:
    def __init__(self):
        self.fails = 0

    def check(self, name, err, tol):
        ok = err <= tol
        print("%-58s max|diff| %.3e  tol %.0e  %s" % (name, err, tol, "ok" if ok else "FAIL"))
        if not ok:
            self.fails += 1

    def true(self, name, cond, detail=""):
        print("%-58s %s  %s" % (name, detail, "ok" if cond else "FAIL"))
        if not cond:
            self.fails += 1


def maxdiff(a, b):
    return (a.detach() - b.detach()).abs().max().item()


def cmd_selfcheck(args):
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ck = Checker()
    gen = torch.Generator().manual_seed(7)

    # 1. llama3 rope: all three branches with the case config
    _, counts = pm.rope_inv_freq(pm.parse_config(llama_config()))
    ck.true("llama3 branches (keep/smooth/divide all used)",
            all(counts[k] >= 1 for k in counts), repr(counts))

    # 2. gradcheck on tiny configs, padding + packing row, with and without mask
    for name, cfg in tiny_configs().items():
        p = pm.parse_config(cfg)
        w = pm.random_params(p, gen)
        model = pm.RefModel(cfg, w, dtype=torch.float64)
        B, T = 2, 7
        pos = torch.tensor([[0, 0, 0, 1, 2, 3, 4], [0, 1, 2, 0, 1, 0, 0]], dtype=torch.int32)
        seg = torch.tensor([[-1, -1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, -1, -1]], dtype=torch.int32)
        ids = torch.randint(0, p["V"], (B, T), generator=gen).to(torch.int32)
        tg = next_targets(ids, seg)
        wv = torch.randn((B, T), generator=gen, dtype=torch.float64)
        uv = torch.randn((B, T), generator=gen, dtype=torch.float64)
        names = model.names()
        for mask in (None, case_mask(B, T)):
            def f(*ps):
                P = dict(zip(names, ps))
                lg = model.forward(ids, pos, seg, mask, params=P)
                lp, en = pm.token_stats(lg, tg, seg.long())
                return pm.loss_ce(lg, tg), (wv * lp).sum() + (uv * en).sum()
            inputs = tuple(model.params[n] for n in names)
            try:
                ok = torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
            except RuntimeError as e:
                print(str(e)[:2000])
                ok = False
            n = sum(t.numel() for t in inputs)
            ck.true("gradcheck %s %s (%d params)" % (name, "mask" if mask is not None else "seg", n),
                    ok)

    # 3. vectorised reference vs the loop-by-loop NumPy decoder, case configs
    #    and tiny configs, every batch layout
    allcfg = {"qwen2": qwen2_config(), "llama": llama_config()}
    allcfg.update(tiny_configs())
    for cname, cfg in allcfg.items():
        p = pm.parse_config(cfg)
        w = pm.random_params(p, gen)
        model = pm.RefModel(cfg, w, dtype=torch.float64, requires_grad=False)
        for kind in ("leftpad", "packed", "mask"):
            bt = make_batch("x-" + kind, p["V"], gen)
            a = model.forward(bt["ids"], bt["pos"], bt["seg"], bt["mask"])
            b = naive_logits(cfg, w, bt["ids"], bt["pos"], bt["seg"], bt["mask"])
            v = (bt["seg"] >= 0)
            ck.check("numpy loops vs ref: %s %s" % (cname, kind), maxdiff(a[v], b[v]), 1e-10)

    # 4. left padding == each row alone; packing == each document alone;
    #    a mask equal to the default rule == no mask; positions shifted by a
    #    constant give the same logits (RoPE is relative); pad ids do not leak
    for cname, cfg in (("qwen2", qwen2_config()), ("llama", llama_config())):
        p = pm.parse_config(cfg)
        w = pm.random_params(p, gen)
        model = pm.RefModel(cfg, w, dtype=torch.float64, requires_grad=False)
        for kind in ("leftpad", "packed"):
            bt = make_batch("x-" + kind, p["V"], gen)
            ids, pos, seg = bt["ids"], bt["pos"], bt["seg"]
            full = model.forward(ids, pos, seg)
            err = 0.0
            ndoc = 0
            for b in range(ids.shape[0]):
                for d in sorted(set(seg[b].tolist()) - {-1}):
                    idx = (seg[b] == d).nonzero()[:, 0]
                    n = idx.numel()
                    alone = model.forward(ids[b, idx][None],
                                          torch.arange(n, dtype=torch.int32)[None],
                                          torch.zeros((1, n), dtype=torch.int32))
                    err = max(err, maxdiff(full[b, idx], alone[0]))
                    ndoc += 1
            what = "each row alone" if kind == "leftpad" else "each document alone"
            ck.check("%s %s == %s (%d docs)" % (cname, kind, what, ndoc), err, 1e-10)

            vis = pm.visibility(seg.long()).to(torch.uint8)
            withmask = model.forward(ids, pos, seg, vis)
            v = seg >= 0
            ck.check("%s %s: default-rule mask == no mask" % (cname, kind),
                     maxdiff(full[v], withmask[v]), 1e-12)

            shifted = model.forward(ids, pos + 37, seg)
            ck.check("%s %s: positions + 37 == positions (RoPE relative)" % (cname, kind),
                     maxdiff(full[v], shifted[v]), 1e-9)

            ids2 = torch.where(seg >= 0, ids, (ids + 5) % p["V"])
            other = model.forward(ids2, pos, seg)
            ck.check("%s %s: pad ids do not leak" % (cname, kind), maxdiff(full[v], other[v]), 0.0)

    # 5. no NaN anywhere, including padding rows, values and gradients
    for case in CASES:
        cfg = qwen2_config() if case.startswith("qwen2") else llama_config()
        p = pm.parse_config(cfg)
        model = pm.RefModel(cfg, pm.random_params(p, gen), dtype=torch.float64)
        bt = make_batch(case, p["V"], gen)
        logits, logp, ent, lce, llp = losses(model, bt)
        (lce + llp).backward()
        finite = torch.isfinite(logits).all().item() and all(
            torch.isfinite(t.grad).all().item() for t in model.params.values())
        ck.true("%s: all logits and grads finite" % case, finite)
        # loosely: logits not near-uniform
        ck.true("%s: logits std %.2f > 0.5" % (case, logits.std().item()), logits.std().item() > 0.5)

    # 6. the float32 benchmark twin computes the same causal logits
    allcfg = {"qwen2": qwen2_config(), "llama": llama_config()}
    allcfg.update(tiny_configs())
    for cname, cfg in allcfg.items():
        p = pm.parse_config(cfg)
        w = pm.random_params(p, gen)
        ref = pm.RefModel(cfg, w, dtype=torch.float64, requires_grad=False)
        bm = pm.BenchModel(cfg, w)
        ids = torch.randint(0, p["V"], (2, 24), generator=gen)
        a = ref.forward(ids, torch.arange(24).repeat(2, 1), torch.zeros((2, 24), dtype=torch.int32))
        with torch.no_grad():
            b = bm(ids).double()
        ck.check("BenchModel fp32 vs ref causal logits: %s" % cname, maxdiff(a, b), 1e-4)

    # 7. safetensors round trip, plus hand-made BF16 / F16 tensors
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "a.safetensors")
        t = {"f": torch.randn(3, 5, generator=gen), "i": torch.arange(-4, 4, dtype=torch.int32),
             "u": torch.tensor([0, 1, 255], dtype=torch.uint8), "s": torch.tensor([1.5])}
        stio.write_safetensors(fn, t, metadata={"k": "v"})
        back, meta = stio.read_safetensors(fn, with_metadata=True)
        with open(fn, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
        same = all(torch.equal(t[k], back[k]) and t[k].dtype == back[k].dtype for k in t)
        ck.true("safetensors round trip (F32/I32/U8, header % 8 == 0)",
                same and meta == {"k": "v"} and n % 8 == 0)
        vals = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
        bf = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
        hf = vals.astype("<f2").tobytes()
        hdr = json.dumps({"b": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},
                          "h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [8, 16]}}).encode()
        hdr += b" " * ((-len(hdr)) % 8)
        with open(fn, "wb") as fh:
            fh.write(len(hdr).to_bytes(8, "little") + hdr + bf + hf)
        back = stio.read_safetensors(fn)
        ck.true("safetensors BF16 / F16 read",
                np.array_equal(back["b"].numpy(), vals)
                and np.array_equal(back["h"].float().numpy().ravel(), vals))

    print("selfcheck: %s (%d failure%s)" % ("PASS" if ck.fails == 0 else "FAIL", ck.fails,
                                             "" if ck.fails == 1 else "s"))
    return 1 if ck.fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model", help="write a model/batch/reference case")
    m.add_argument("--case", required=True, choices=CASES)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=1234)
    a = sub.add_parser("adamw", help="AdamW trajectory on a case directory")
    a.add_argument("--dir", required=True)
    a.add_argument("--steps", type=int, default=10)
    a.add_argument("--lr", type=float, default=1e-2)
    a.add_argument("--betas", default="0.9,0.95")
    a.add_argument("--eps", type=float, default=1e-8)
    a.add_argument("--wd", type=float, default=0.1)
    a.add_argument("--clip", type=float, default=1.0)
    sub.add_parser("selfcheck", help="check the reference itself")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float32)
    if args.cmd == "model":
        return cmd_model(args)
    if args.cmd == "adamw":
        return cmd_adamw(args)
    return cmd_selfcheck(args)


if __name__ == "__main__":
    sys.exit(main())
