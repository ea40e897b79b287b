#!/usr/bin/env python3
"""PyTorch reference for the f-DPG loss (ALGORITHMS.md 10, include/thinkrl/fdpg.h).

Writes seeded random packed batches (token log-probs, per-response log q,
log P with one -inf per case, log Z, a baseline, a normaliser) for every
divergence, and what float64 PyTorch makes of them, computed independently of
the C formulas:
  f(t) in closed form in t, f'(t) = torch.autograd.grad(f, t) (not the table),
  log t = clamp(log pi - log P + log Z, -clip, clip) (+clip outside the support),
  R = -f'(t), w = exp(log pi - log q) (both detached),
  loss = sum_i w_i * -(R_i - b) * sum_t logp_{i,t} / norm   (norm <= 0: N),
  dlogp = d loss / d logp by loss.backward().
check_fdpg_torch runs this, then fdpg_coefs + fdpg_loss on the same inputs
and compares. Exits 77 when torch is missing.

usage: fdpg_torch_ref.py OUT.json
Non-finite numbers are written as the strings "nan" / "-inf" (cJSON reads no
NaN or Infinity literals); token log-probs are float32 values.
"""
import json
import math
import sys

try:
    import torch
except ImportError:
    print("fdpg_torch_ref: no torch in this python: skipped")
    sys.exit(77)

torch.set_default_dtype(torch.float64)

DIVS = ["fkl", "rkl", "js", "tv", "chi2"]


def f_of_t(div, t):
    """f(t) in closed form, as a function of t = pi / p."""
    if div == "fkl":
        return -torch.log(t)
    if div == "rkl":
        return t * torch.log(t)
    if div == "js":
        return t * torch.log(2 * t / (1 + t)) + torch.log(2 / (1 + t))
    if div == "tv":
        return torch.abs(t - 1) / 2
    if div == "chi2":
        return (t - 1) ** 2
    raise ValueError(div)


def fprime(div, logt):
    """f'(t) at t = exp(logt) by autograd of f."""
    t = torch.exp(logt).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f_of_t(div, t).sum(), t)
    return g.detach()


def num(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def make_case(name, div, gen, packed, offline, norm, clip=10.0):
    lens = [int(v) for v in torch.randint(1, 7, (7,), generator=gen)]
    lens[2] = 0  # an empty response: no tokens, nothing in the loss
    N = len(lens)
    offs, o = [], 0
    for n in lens:
        if not packed:
            o += int(torch.randint(0, 3, (1,), generator=gen))  # gaps: prompt tokens, padding
        offs.append(o)
        o += n
    n_tok = o + (0 if packed else 2)
    owned = torch.zeros(n_tok, dtype=torch.bool)
    for off, n in zip(offs, lens):
        owned[off:off + n] = True
    # token log-probs: float32 values, NaN where no response owns the position
    lp32 = (-0.05 - 1.2 * torch.rand(n_tok, generator=gen)).to(torch.float32)
    logp = lp32.to(torch.float64)
    logp[~owned] = float("nan")
    logp.requires_grad_(True)

    seq = [logp[off:off + n].sum() for off, n in zip(offs, lens)]
    lpi = torch.stack([s.detach() if n else torch.zeros(()) for s, n in zip(seq, lens)])
    # log P = log pi + a spread of log(p / pi), some beyond the clip both ways
    lP = lpi + 1.5 * torch.randn(N, generator=gen)
    lP[0] = lpi[0] - 14.0        # log t ~ +14 (+ log Z): clamped to +clip
    lP[4] = lpi[4] + 13.5        # log t ~ -13.5: clamped to -clip
    lP[5] = float("-inf")        # outside the support
    lz = torch.where(torch.arange(N) < 4, torch.tensor(-0.35), torch.tensor(0.6))  # two prompts
    lq = lpi + (0.4 * torch.randn(N, generator=gen) if offline else torch.zeros(N))
    base = float(0.7 * torch.randn((), generator=gen))

    inside = torch.isfinite(lP)
    raw = torch.where(inside, lpi - lP + lz, torch.full((N,), clip))
    logt = torch.clamp(raw, -clip, clip)
    R = -fprime(div, logt)
    w = torch.exp(lpi - lq).detach()
    nrm = norm if norm > 0 else N
    loss = sum(w[i] * -(R[i] - base) * seq[i] for i in range(N) if lens[i]) / nrm
    loss.backward()
    dlogp = logp.grad.detach().clone()

    # the reference itself: autograd f' against the table (ALGORITHMS 10)
    t = torch.exp(logt)
    table = {"fkl": -1 / t, "rkl": logt + 1, "js": math.log(2) - torch.log1p(1 / t),
             "tv": torch.sign(logt) / 2, "chi2": 2 * (t - 1)}[div]
    assert torch.allclose(-R, table, rtol=1e-12, atol=1e-12), (div, -R, table)

    return {
        "name": name, "div": div, "clip": clip, "N": N, "n_tok": n_tok,
        "off": None if packed else offs, "len": lens,
        "logp": [num(v) for v in logp.detach()],
        "lq": [num(v) for v in lq], "lP": [num(v) for v in lP], "lz": [num(v) for v in lz],
        "baseline": base, "norm": norm,
        "ref": {"lpi": [num(v) for v in lpi], "R": [num(v) for v in R],
                "loss": float(loss), "dlogp": [num(v) for v in dlogp]},
    }


def main():
    if len(sys.argv) != 2:
        print("usage: fdpg_torch_ref.py OUT.json", file=sys.stderr)
        return 2
    gen = torch.Generator().manual_seed(20240611)
    cases = []
    for div in DIVS:
        cases.append(make_case(div + "-packed-online", div, gen, packed=True, offline=False, norm=0.0))
        cases.append(make_case(div + "-gaps-offline-norm", div, gen, packed=False, offline=True, norm=37.5))
        cases.append(make_case(div + "-gaps-clip3", div, gen, packed=False, offline=True, norm=0.0, clip=3.0))
    with open(sys.argv[1], "w") as f:
        json.dump({"cases": cases}, f)
    print("fdpg_torch_ref: wrote %d cases to %s" % (len(cases), sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
