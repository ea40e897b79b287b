#!/usr/bin/env python3
"""PyTorch reference for the thinkrl RL math core (ALGORITHMS.md 2-3).

Reads the cases check_rl_torch wrote (inputs as float32 values, the C outputs)
and recomputes every advantage, return, loss, statistic and gradient in float64
with autograd, the way verl / TRL / OpenRLHF write them: responses as rows of a
padded [N, T] tensor with a mask. Prints the max errors per quantity; exits 1
on a mismatch, 77 when torch is missing.

usage: rl_torch_ref.py CASES.json
"""
import json
import math
import sys

try:
    import torch
except ImportError:
    print("rl_torch_ref: no torch in this python: skipped")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
F64 = torch.float64

# Tolerances: C writes float32 vectors (rtol on top of an atol relative to the
# tensor's largest magnitude) and double scalars computed from the same float32
# inputs, so those must agree to rounding.
TOL_VEC = dict(rtol=1e-5, atol_rel=1e-6)
TOL_SCALAR = 1e-9      # |c - t| <= TOL_SCALAR * max(1, |t|)
TOL_FRAC = 1e-12       # token fractions are ratios of integers


def f32(xs):
    """float32 values as written by C (9 digits round-trip) -> float64."""
    return torch.tensor([float(x) for x in xs], dtype=torch.float32).to(F64)


class Batch:
    def __init__(self, d):
        self.name = d["name"]
        self.N, self.G, self.n_tok = d["N"], d["G"], d["n_tok"]
        self.len = torch.tensor(d["len"], dtype=torch.long)
        if d["off"] is None:  # packed back to back
            self.off = torch.cumsum(self.len, 0) - self.len
        else:
            self.off = torch.tensor(d["off"], dtype=torch.long)
        self.T = max(1, int(self.len.max()))
        ar = torch.arange(self.T)
        self.mask = ar[None, :] < self.len[:, None]                  # [N, T]
        self.idx = (self.off[:, None] + ar[None, :]).clamp(max=self.n_tok - 1)
        self.owned = torch.zeros(self.n_tok, dtype=torch.bool)
        self.owned[self.idx[self.mask]] = True
        self.reward = f32(d["reward"])
        self.baseline = f32(d["baseline"])
        for k in ("old_logp", "logp", "ref_logp", "adv", "values", "values_old", "returns"):
            setattr(self, k, f32(d[k]))

    def pad(self, packed):
        """packed (n_tok) -> [N, T], zero outside the responses (gaps hold NaN)."""
        return torch.where(self.mask, packed[self.idx], torch.zeros((), dtype=F64))

    def unpad(self, x):
        out = torch.zeros(self.n_tok, dtype=F64)
        out[self.idx[self.mask]] = x[self.mask].detach()
        return out


def kl_est(kind, logp, ref):
    x = ref - logp
    if kind == "k1":
        return -x
    if kind == "k2":
        return 0.5 * x * x
    xc = torch.clamp(x, -10.0, 10.0)
    return torch.exp(xc) - xc - 1.0


def masked_whiten(x, mask, unbiased):
    m = mask.to(F64)
    n = m.sum()
    mean = (x * m).sum() / n
    var = ((x - mean) ** 2 * m).sum()
    var = var / (n - 1) if unbiased else var / n
    return (x - mean) * torch.rsqrt(var + 1e-8) * m


# ---- advantage estimators (ALGORITHMS 2) --------------------------------

def advantages(b, c):
    kind, G = c["kind"], b.G
    r = b.reward
    m = b.mask.to(F64)
    if kind in ("grpo", "dr_grpo", "rloo", "remax"):
        rg = r.view(-1, G)
        if kind == "grpo":
            std = rg.std(dim=1, unbiased=not c["std_population"], keepdim=True)
            a = (rg - rg.mean(dim=1, keepdim=True)) / (std + 1e-6)
        elif kind == "dr_grpo":
            a = rg - rg.mean(dim=1, keepdim=True)
        elif kind == "rloo":
            a = rg - (rg.sum(dim=1, keepdim=True) - rg) / (G - 1)
        else:
            a = rg - b.baseline.view(-1, G)
        a = a.reshape(-1)[:, None] * m
        return a, a
    # per-token rewards: KL in the reward, the scalar on the last token
    tokr = torch.zeros(b.N, b.T, dtype=F64)
    if c["kl"] is not None:
        tokr = -c["kl_beta"] * kl_est(c["kl"], b.pad(b.old_logp), b.pad(b.ref_logp)) * m
    s = r.clone()
    if kind == "reinforce_pp_baseline":
        s = (r.view(-1, G) - r.view(-1, G).mean(dim=1, keepdim=True)).reshape(-1)
    rows = torch.nonzero(b.len > 0).flatten()
    tokr[rows, b.len[rows] - 1] += s[rows]
    gamma = c["gamma"]
    unbiased = not c["std_population"]
    if kind in ("reinforce_pp", "reinforce_pp_baseline"):
        ret = torch.zeros(b.N, b.T + 1, dtype=F64)
        for t in reversed(range(b.T)):
            ret[:, t] = tokr[:, t] + gamma * ret[:, t + 1]
        ret = ret[:, :b.T] * m
        adv = ret if c["no_whiten"] else masked_whiten(ret, b.mask, unbiased)
        return adv, ret
    assert kind == "gae"
    V = b.pad(b.values)

    def gae(lam):  # lam: [N]
        out = torch.zeros(b.N, b.T, dtype=F64)
        last = torch.zeros(b.N, dtype=F64)
        for t in reversed(range(b.T)):
            nextv = V[:, t + 1] if t + 1 < b.T else torch.zeros(b.N, dtype=F64)
            delta = tokr[:, t] + gamma * nextv - V[:, t]
            last = delta + gamma * lam * last
            out[:, t] = last
        return out * m

    ones = torch.ones(b.N, dtype=F64)
    if c["vapo_alpha"] > 0:
        lam_a = torch.clamp(1.0 - 1.0 / (c["vapo_alpha"] * b.len.to(F64)), min=0.0)
    else:
        lam_a = c["lambda_actor"] * ones
    a_actor = gae(lam_a)
    returns = (gae(c["lambda_critic"] * ones) + V) * m
    adv = a_actor if c["no_whiten"] else masked_whiten(a_actor, b.mask, unbiased)
    return adv, returns


# ---- aggregation (ALGORITHMS 3.1) ---------------------------------------

def aggregate(L, b, agg, max_len, norm_count):
    m = b.mask.to(F64)
    if agg == "token-mean":
        cnt = norm_count if norm_count > 0 else m.sum()
        return (L * m).sum() / cnt
    if agg == "seq-mean-token-mean":
        keep = b.len > 0
        seq = (L * m).sum(dim=1)[keep] / b.len[keep].to(F64)
        cnt = norm_count if norm_count > 0 else keep.sum()
        return seq.sum() / cnt
    assert agg == "seq-mean-token-sum-norm"
    seq = (L * m).sum(dim=1) / max_len
    cnt = norm_count if norm_count > 0 else b.N
    return seq.sum() / cnt


# ---- policy loss (ALGORITHMS 3.1-3.2) -----------------------------------

def policy(b, c):
    logp_leaf = b.logp.clone().requires_grad_(True)
    m = b.mask
    lp, old, A = b.pad(logp_leaf), b.pad(b.old_logp), b.pad(b.adv)
    ratio = torch.exp(lp - old)
    s1 = -A * ratio
    s2 = -A * torch.clamp(ratio, 1.0 - c["eps_low"], 1.0 + c["eps_high"])
    L = torch.max(s1, s2)
    clipped = (s2 > s1) & m
    dual = torch.zeros_like(m)
    if c["dual_clip_c"] > 0:
        bound = -c["dual_clip_c"] * A
        dual = (A < 0) & (bound < L) & m
        L = torch.where(A < 0, torch.min(L, bound), L)
    pg = aggregate(L, b, c["agg"], c["max_len"], c["norm_count"])
    kl_loss = torch.zeros((), dtype=F64)
    kl_mean = 0.0
    if c["use_ref"]:
        k = kl_est(c["kl"], lp, b.pad(b.ref_logp))
        kl_loss = aggregate(k, b, c["agg"], c["max_len"], c["norm_count"])
        kl_mean = float((k * m).sum() / m.sum())
    loss = pg + (c["beta"] * kl_loss if c["kl_in_loss"] and c["beta"] > 0 else 0.0)
    loss.backward()
    nt = float(m.sum())
    rm = ratio.detach()[m]
    lr = (lp - old).detach()[m]
    stats = dict(
        loss=float(loss), pg_loss=float(pg), kl_loss=float(kl_loss), kl_mean=kl_mean,
        clip_frac=float(clipped.sum()) / nt,
        clip_frac_high=float((clipped & (A > 0)).sum()) / nt,
        clip_frac_low=float((clipped & (A < 0)).sum()) / nt,
        dual_clip_frac=float(dual.sum()) / nt,
        ratio_mean=float(rm.mean()), ratio_max=float(rm.max()), ratio_min=float(rm.min()),
        logratio_abs_mean=float(lr.abs().mean()), n_tokens=nt,
        n_seqs=int((b.len > 0).sum()))
    grad = logp_leaf.grad.clone()
    grad[~b.owned] = 0.0  # gaps hold NaN inputs; nothing flows there
    return stats, grad


# ---- value loss (ALGORITHMS 3.3) ----------------------------------------

def value(b, c):
    v_leaf = b.values.clone().requires_grad_(True)
    m = b.mask
    V, R = b.pad(v_leaf), b.pad(b.returns)
    l1 = (V - R) ** 2
    clipped = torch.zeros_like(m)
    if c["eps_v"] > 0:
        Vo = b.pad(b.values_old)
        vc = torch.max(torch.min(V, Vo + c["eps_v"]), Vo - c["eps_v"])
        l2 = (vc - R) ** 2
        clipped = (l2 > l1) & m
        L = 0.5 * torch.max(l1, l2)
    else:
        L = 0.5 * l1
    loss = aggregate(L, b, c["agg"], c["max_len"], 0.0)
    loss.backward()
    mf = m.to(F64)
    nt = mf.sum()
    Rd, Vd = R.detach(), V.detach()

    def var(x):
        mu = (x * mf).sum() / nt
        return (((x - mu) ** 2) * mf).sum() / nt

    vr = var(Rd)
    ev = float(1.0 - var(Rd - Vd) / vr) if vr > 0 else 0.0
    stats = dict(loss=float(loss), clip_frac=float(clipped.sum()) / float(nt), explained_var=ev,
                 v_mean=float((Vd * mf).sum() / nt), ret_mean=float((Rd * mf).sum() / nt), n_tokens=float(nt))
    grad = v_leaf.grad.clone()
    grad[~b.owned] = 0.0
    return stats, grad


# ---- comparison ----------------------------------------------------------

class Tally:
    def __init__(self):
        self.worst = {}   # quantity -> (normalised error, max abs error)
        self.fails = []

    def vec(self, what, case, got, ref, b):
        got = f32(got)
        bad_gap = got[~b.owned].abs().max().item() if (~b.owned).any() else 0.0
        if not math.isfinite(bad_gap) or bad_gap != 0.0:
            self.fails.append(f"{case}: {what} is {bad_gap} at positions no response owns")
        scale = max(ref.abs().max().item(), 1e-30)
        err = (got - ref).abs()
        norm = err / (TOL_VEC["atol_rel"] * scale + TOL_VEC["rtol"] * ref.abs())
        e, a = norm.max().item(), err.max().item()
        if not math.isfinite(e):
            e = math.inf
        self.note(what, e, a)
        if e > 1:
            i = int(norm.argmax())
            self.fails.append(f"{case}: {what}[{i}] C {got[i].item():.9g} torch {ref[i].item():.9g}")

    def scalar(self, what, case, got, ref, tol):
        got = float(got)
        a = abs(got - ref)
        e = a / (tol * max(1.0, abs(ref))) if math.isfinite(a) else math.inf
        self.note(what, e, a)
        if e > 1:
            self.fails.append(f"{case}: {what} C {got:.17g} torch {ref:.17g}")

    def note(self, what, e, a):
        pe, pa = self.worst.get(what, (0.0, 0.0))
        self.worst[what] = (max(pe, e), max(pa, a))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    with open(sys.argv[1]) as f:
        d = json.load(f)
    bs = [Batch(x) for x in d["batches"]]
    t = Tally()

    for i, c in enumerate(d["adv_cases"]):
        b = bs[c["batch"]]
        name = f"adv {i} {c['kind']} kl={c['kl']} batch {b.name}"
        adv, ret = advantages(b, c)
        t.vec("advantages", name, c["out_adv"], b.unpad(adv), b)
        t.vec("returns", name, c["out_returns"], b.unpad(ret), b)

    for i, c in enumerate(d["policy_cases"]):
        b = bs[c["batch"]]
        name = (f"policy {i} {c['agg']} dual={c['dual_clip_c']} kl={c['kl']} in_loss={c['kl_in_loss']} "
                f"ref={c['use_ref']} norm={c['norm_count']} batch {b.name}")
        st, grad = policy(b, c)
        for k, v in st.items():
            tol = TOL_FRAC if ("frac" in k or k.startswith("n_")) else TOL_SCALAR
            t.scalar("policy " + k, name, c["stats"][k], v, tol)
        t.vec("policy dlogp", name, c["out_dlogp"], grad, b)

    for i, c in enumerate(d["value_cases"]):
        b = bs[c["batch"]]
        name = f"value {i} {c['agg']} eps_v={c['eps_v']} batch {b.name}"
        st, grad = value(b, c)
        for k, v in st.items():
            tol = TOL_FRAC if ("frac" in k or k.startswith("n_")) else TOL_SCALAR
            t.scalar("value " + k, name, c["stats"][k], v, tol)
        t.vec("value dv", name, c["out_dv"], grad, b)

    # coverage: the cases must reach every branch they claim to test
    pc = d["policy_cases"]
    for k in ("clip_frac_high", "clip_frac_low", "dual_clip_frac"):
        if not any(c["stats"][k] > 0 for c in pc):
            t.fails.append(f"coverage: no policy case has {k} > 0")
    if not any(c["stats"]["clip_frac"] > 0 for c in d["value_cases"]):
        t.fails.append("coverage: no value case clips")

    print(f"rl_torch_ref: {len(d['adv_cases'])} advantage, {len(pc)} policy-loss, "
          f"{len(d['value_cases'])} value-loss cases over {len(bs)} batches")
    for what, (e, a) in sorted(t.worst.items()):
        print(f"  {what:28s} max abs err {a:.3e}   worst {e:.3g} of tolerance")
    if t.fails:
        for s in t.fails[:40]:
            print("FAIL", s)
        print(f"rl_torch_ref: {len(t.fails)} mismatches")
        return 1
    print("rl_torch_ref: all match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
