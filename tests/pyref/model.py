"""Plain-torch Qwen2 / Llama decoder, written from shared/FORMATS.md, that the C
model is tested and benchmarked against. RefModel is the explicit float64
reference (padding, packing, custom masks); BenchModel is a float32 causal-only
twin for timing. Neither is a port of transformers."""

import math

import torch
import torch.nn.functional as F

ARCH_QWEN2 = "Qwen2ForCausalLM"
ARCH_LLAMA = "LlamaForCausalLM"


# ---------------------------------------------------------------------------
# config

def parse_config(cfg):
    """HF config.json dict -> flat dict of what the decoder needs."""
    archs = cfg.get("architectures") or []
    if ARCH_QWEN2 in archs or cfg.get("model_type") == "qwen2":
        arch = ARCH_QWEN2
    elif ARCH_LLAMA in archs or cfg.get("model_type") == "llama":
        arch = ARCH_LLAMA
    else:
        raise ValueError("unsupported architectures %r" % (archs,))
    C = int(cfg["hidden_size"])
    NH = int(cfg["num_attention_heads"])
    KVH = int(cfg.get("num_key_value_heads") or NH)
    HS = int(cfg["head_dim"]) if cfg.get("head_dim") is not None else C // NH
    if NH % KVH != 0:
        raise ValueError("num_attention_heads %d not a multiple of num_key_value_heads %d" % (NH, KVH))
    if HS % 2 != 0:
        raise ValueError("head_dim %d must be even for RoPE" % HS)
    if arch == ARCH_QWEN2:
        qkv_bias, o_bias, mlp_bias = True, False, False
    else:
        qkv_bias = o_bias = bool(cfg.get("attention_bias", False))
        mlp_bias = bool(cfg.get("mlp_bias", False))
    rs = cfg.get("rope_scaling")
    rope = None
    if rs is not None:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "llama3":
            rope = {
                "factor": float(rs["factor"]),
                "low": float(rs["low_freq_factor"]),
                "high": float(rs["high_freq_factor"]),
                "orig": float(rs["original_max_position_embeddings"]),
            }
        elif kind not in (None, "default"):
            raise ValueError("unsupported rope_scaling type %r" % (kind,))
    return {
        "arch": arch, "C": C, "F": int(cfg["intermediate_size"]),
        "L": int(cfg["num_hidden_layers"]), "NH": NH, "KVH": KVH, "HS": HS,
        "V": int(cfg["vocab_size"]), "eps": float(cfg.get("rms_norm_eps", 1e-6)),
        "theta": float(cfg.get("rope_theta", 10000.0)), "llama3": rope,
        "tie": bool(cfg.get("tie_word_embeddings", False)),
        "qkv_bias": qkv_bias, "o_bias": o_bias, "mlp_bias": mlp_bias,
    }


def param_shapes(p):
    """[(hf_name, shape)] of every stored tensor for a parsed config, in HF
    order. With tied embeddings lm_head.weight is absent."""
    C, Fd, NH, KVH, HS, V = p["C"], p["F"], p["NH"], p["KVH"], p["HS"], p["V"]
    out = [("model.embed_tokens.weight", (V, C))]
    for i in range(p["L"]):
        pre = "model.layers.%d." % i
        out.append((pre + "input_layernorm.weight", (C,)))
        out.append((pre + "self_attn.q_proj.weight", (NH * HS, C)))
        out.append((pre + "self_attn.k_proj.weight", (KVH * HS, C)))
        out.append((pre + "self_attn.v_proj.weight", (KVH * HS, C)))
        if p["qkv_bias"]:
            out.append((pre + "self_attn.q_proj.bias", (NH * HS,)))
            out.append((pre + "self_attn.k_proj.bias", (KVH * HS,)))
            out.append((pre + "self_attn.v_proj.bias", (KVH * HS,)))
        out.append((pre + "self_attn.o_proj.weight", (C, NH * HS)))
        if p["o_bias"]:
            out.append((pre + "self_attn.o_proj.bias", (C,)))
        out.append((pre + "post_attention_layernorm.weight", (C,)))
        out.append((pre + "mlp.gate_proj.weight", (Fd, C)))
        out.append((pre + "mlp.up_proj.weight", (Fd, C)))
        out.append((pre + "mlp.down_proj.weight", (C, Fd)))
        if p["mlp_bias"]:
            out.append((pre + "mlp.gate_proj.bias", (Fd,)))
            out.append((pre + "mlp.up_proj.bias", (Fd,)))
            out.append((pre + "mlp.down_proj.bias", (C,)))
    out.append(("model.norm.weight", (C,)))
    if not p["tie"]:
        out.append(("lm_head.weight", (V, C)))
    return out


def random_params(p, gen, std=0.2, norm_std=0.1, bias_std=0.1):
    """float32 random weights: matrices N(0, std), norms 1 + N(0, norm_std),
    biases N(0, bias_std)."""
    out = {}
    for name, shape in param_shapes(p):
        r = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            out[name] = 1.0 + norm_std * r
        elif name.endswith(".bias"):
            out[name] = bias_std * r
        else:
            out[name] = std * r
    return out


# ---------------------------------------------------------------------------
# RoPE

def rope_inv_freq(p, dtype=torch.float64):
    """(HS/2) inverse frequencies, llama3-rescaled when configured, and the
    number of frequencies that took each branch of the llama3 rule
    {"keep", "divide", "smooth"} (None without llama3)."""
    HS = p["HS"]
    i = torch.arange(HS // 2, dtype=torch.float64)
    inv = p["theta"] ** (-2.0 * i / HS)
    r = p["llama3"]
    if r is None:
        return inv.to(dtype), None
    f, lo, hi, M = r["factor"], r["low"], r["high"], r["orig"]
    out = torch.empty_like(inv)
    counts = {"keep": 0, "divide": 0, "smooth": 0}
    for j in range(HS // 2):
        w = 2.0 * math.pi / inv[j].item()
        if w < M / hi:
            out[j] = inv[j]
            counts["keep"] += 1
        elif w > M / lo:
            out[j] = inv[j] / f
            counts["divide"] += 1
        else:
            s = (M / w - lo) / (hi - lo)
            out[j] = (1.0 - s) * inv[j] / f + s * inv[j]
            counts["smooth"] += 1
    return out.to(dtype), counts


def rope_cos_sin(inv_freq, pos):
    """pos (...,) int -> cos, sin (..., HS) with the angle repeated for both
    halves (rotate-half layout)."""
    ang = pos.to(inv_freq.dtype)[..., None] * inv_freq
    ang = torch.cat([ang, ang], dim=-1)
    return torch.cos(ang), torch.sin(ang)


def rope_apply(x, cos, sin):
    """x (B, heads, T, HS); cos/sin (B, 1, T, HS)."""
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rot * sin


# ---------------------------------------------------------------------------
# reference model

def rmsnorm(x, w, eps):
    return w * (x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))


def visibility(seg, mask=None):
    """(B, T, T) bool: query t sees key s. Without mask: s <= t, same segment,
    key not padding. With mask: mask[b, t, s] != 0 and key not padding."""
    B, T = seg.shape
    key_ok = (seg >= 0)[:, None, :]
    if mask is not None:
        return (mask != 0) & key_ok
    causal = torch.ones(T, T, dtype=torch.bool).tril()[None]
    same = seg[:, :, None] == seg[:, None, :]
    return causal & same & key_ok


def _lin(x, w, b):
    y = x @ w.t()
    return y + b if b is not None else y


class RefModel:
    """Explicit decoder over a dict of HF-named leaf tensors (self.params).

    RefModel(config_dict, tensors, dtype=torch.float64, requires_grad=True):
    the tensors are copied and cast to dtype. forward() returns logits
    (B, T, V). Query rows that see no key get a zero attention output (no NaN
    in values or gradients)."""

    def __init__(self, config, tensors, dtype=torch.float64, requires_grad=True):
        self.config = dict(config)
        self.p = parse_config(config)
        self.dtype = dtype
        self.params = {}
        for name, shape in param_shapes(self.p):
            if name not in tensors:
                raise KeyError("missing tensor %s" % name)
            t = tensors[name]
            if tuple(t.shape) != tuple(shape):
                raise ValueError("%s: shape %s, expected %s" % (name, tuple(t.shape), shape))
            self.params[name] = t.detach().to(dtype).clone().requires_grad_(requires_grad)
        self.inv_freq, self.rope_counts = rope_inv_freq(self.p, dtype)

    def names(self):
        return list(self.params.keys())

    def forward(self, ids, pos, seg, mask=None, params=None):
        """ids, pos, seg (B, T) int; mask optional (B, T, T). params: optional
        name -> tensor overriding self.params (for gradcheck)."""
        P = self.params if params is None else params
        c = self.p
        B, T = ids.shape
        NH, KVH, HS, eps = c["NH"], c["KVH"], c["HS"], c["eps"]
        G = NH // KVH
        pos = pos.long()
        seg = seg.long()
        vis = visibility(seg, mask)[:, None]            # (B, 1, T, T)
        any_vis = vis.any(dim=-1, keepdim=True)         # (B, 1, T, 1)
        # empty rows: let softmax see everything, then zero the result
        vis_eff = vis | ~any_vis
        cos, sin = rope_cos_sin(self.inv_freq, pos)     # (B, T, HS)
        cos, sin = cos[:, None], sin[:, None]
        scale = 1.0 / math.sqrt(HS)

        x = P["model.embed_tokens.weight"][ids.long()]  # (B, T, C)
        for i in range(c["L"]):
            pre = "model.layers.%d." % i
            g = P.get
            h = rmsnorm(x, P[pre + "input_layernorm.weight"], eps)
            q = _lin(h, P[pre + "self_attn.q_proj.weight"], g(pre + "self_attn.q_proj.bias"))
            k = _lin(h, P[pre + "self_attn.k_proj.weight"], g(pre + "self_attn.k_proj.bias"))
            v = _lin(h, P[pre + "self_attn.v_proj.weight"], g(pre + "self_attn.v_proj.bias"))
            q = q.view(B, T, NH, HS).transpose(1, 2)
            k = k.view(B, T, KVH, HS).transpose(1, 2)
            v = v.view(B, T, KVH, HS).transpose(1, 2)
            q = rope_apply(q, cos, sin)
            k = rope_apply(k, cos, sin)
            # kv head j serves query heads j*G .. (j+1)*G-1
            k = k.repeat_interleave(G, dim=1)
            v = v.repeat_interleave(G, dim=1)
            s = (q @ k.transpose(-1, -2)) * scale       # (B, NH, T, T)
            s = s.masked_fill(~vis_eff, float("-inf"))
            a = torch.softmax(s, dim=-1) * any_vis.to(s.dtype)
            o = (a @ v).transpose(1, 2).reshape(B, T, NH * HS)
            x = x + _lin(o, P[pre + "self_attn.o_proj.weight"], g(pre + "self_attn.o_proj.bias"))
            h = rmsnorm(x, P[pre + "post_attention_layernorm.weight"], eps)
            gt = _lin(h, P[pre + "mlp.gate_proj.weight"], g(pre + "mlp.gate_proj.bias"))
            up = _lin(h, P[pre + "mlp.up_proj.weight"], g(pre + "mlp.up_proj.bias"))
            x = x + _lin(F.silu(gt) * up, P[pre + "mlp.down_proj.weight"], g(pre + "mlp.down_proj.bias"))
        x = rmsnorm(x, P["model.norm.weight"], eps)
        head = P["model.embed_tokens.weight"] if c["tie"] else P["lm_head.weight"]
        return x @ head.t()

    __call__ = forward


def token_stats(logits, targets, seg):
    """logp (B, T) of targets (0 where target < 0) and entropy (B, T) of the
    next-token distribution (0 where seg < 0)."""
    lp = torch.log_softmax(logits, dim=-1)
    tgt = targets.long()
    has = tgt >= 0
    logp = lp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    logp = torch.where(has, logp, torch.zeros_like(logp))
    ent = -(lp.exp() * lp).sum(dim=-1)
    ent = torch.where(seg >= 0, ent, torch.zeros_like(ent))
    return logp, ent


def loss_ce(logits, targets):
    """Mean cross-entropy over targets >= 0."""
    lp = torch.log_softmax(logits, dim=-1)
    tgt = targets.long()
    has = tgt >= 0
    logp = lp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    return -(logp * has.to(logp.dtype)).sum() / has.sum().clamp(min=1)


# ---------------------------------------------------------------------------
# benchmark model

class BenchModel(torch.nn.Module):
    """float32 causal-only decoder for timing: q/k/v and gate/up fused into one
    GEMM each (the layout the C model uses too), additive causal mask cached
    per T, no padding or packing. Same maths as RefModel."""

    def __init__(self, config, tensors):
        super().__init__()
        c = parse_config(config)
        self.c = c
        NP = torch.nn.Parameter
        f32 = lambda n: tensors[n].detach().to(torch.float32).clone()
        self.embed = NP(f32("model.embed_tokens.weight"))
        self.norm = NP(f32("model.norm.weight"))
        self.head = None if c["tie"] else NP(f32("lm_head.weight"))
        self.layers = torch.nn.ModuleList()
        for i in range(c["L"]):
            pre = "model.layers.%d." % i
            m = torch.nn.Module()
            m.ln1 = NP(f32(pre + "input_layernorm.weight"))
            m.wqkv = NP(torch.cat([f32(pre + "self_attn.%s_proj.weight" % n) for n in "qkv"], 0))
            m.bqkv = NP(torch.cat([f32(pre + "self_attn.%s_proj.bias" % n) for n in "qkv"], 0)) \
                if c["qkv_bias"] else None
            m.wo = NP(f32(pre + "self_attn.o_proj.weight"))
            m.bo = NP(f32(pre + "self_attn.o_proj.bias")) if c["o_bias"] else None
            m.ln2 = NP(f32(pre + "post_attention_layernorm.weight"))
            m.wgu = NP(torch.cat([f32(pre + "mlp.gate_proj.weight"), f32(pre + "mlp.up_proj.weight")], 0))
            m.bgu = NP(torch.cat([f32(pre + "mlp.gate_proj.bias"), f32(pre + "mlp.up_proj.bias")], 0)) \
                if c["mlp_bias"] else None
            m.wd = NP(f32(pre + "mlp.down_proj.weight"))
            m.bd = NP(f32(pre + "mlp.down_proj.bias")) if c["mlp_bias"] else None
            self.layers.append(m)
        inv, _ = rope_inv_freq(c, torch.float64)
        self.register_buffer("inv_freq", inv.to(torch.float32), persistent=False)
        self._cache_T = -1
        self._mask = self._cos = self._sin = None

    def _prepare(self, T):
        if T == self._cache_T:
            return
        m = torch.full((T, T), float("-inf")).triu(1)
        pos = torch.arange(T)
        cos, sin = rope_cos_sin(self.inv_freq.double(), pos)
        self._mask = m
        self._cos, self._sin = cos.float(), sin.float()
        self._cache_T = T

    def forward(self, ids):
        c = self.c
        B, T = ids.shape
        NH, KVH, HS, eps = c["NH"], c["KVH"], c["HS"], c["eps"]
        G = NH // KVH
        qd, kd = NH * HS, KVH * HS
        self._prepare(T)
        cos, sin, mask = self._cos, self._sin, self._mask
        scale = 1.0 / math.sqrt(HS)
        x = F.embedding(ids, self.embed)
        for m in self.layers:
            h = rmsnorm(x, m.ln1, eps)
            qkv = F.linear(h, m.wqkv, m.bqkv)
            q, k, v = qkv.split([qd, kd, kd], dim=-1)
            q = rope_apply(q.view(B, T, NH, HS).transpose(1, 2), cos, sin)
            k = rope_apply(k.view(B, T, KVH, HS).transpose(1, 2), cos, sin)
            v = v.view(B, T, KVH, HS).transpose(1, 2)
            if G > 1:
                k = k[:, :, None].expand(B, KVH, G, T, HS).reshape(B, NH, T, HS)
                v = v[:, :, None].expand(B, KVH, G, T, HS).reshape(B, NH, T, HS)
            s = torch.baddbmm(mask.expand(B * NH, T, T), q.reshape(B * NH, T, HS),
                              k.reshape(B * NH, T, HS).transpose(1, 2), alpha=scale)
            a = torch.softmax(s, dim=-1)
            o = torch.bmm(a, v.reshape(B * NH, T, HS)).view(B, NH, T, HS)
            o = o.transpose(1, 2).reshape(B, T, qd)
            x = x + F.linear(o, m.wo, m.bo)
            h = rmsnorm(x, m.ln2, eps)
            gu = F.linear(h, m.wgu, m.bgu)
            gt, up = gu.chunk(2, dim=-1)
            x = x + F.linear(F.silu(gt) * up, m.wd, m.bd)
        x = rmsnorm(x, self.norm, eps)
        return F.linear(x, self.embed if self.head is None else self.head)
