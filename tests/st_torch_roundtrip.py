#!/usr/bin/python3
"""safetensors interop between the C library and PyTorch (Debian's
/usr/bin/python3 with python3-torch), driven by tests/st_roundtrip.sh.

  st_torch_roundtrip.py check DIR   reads DIR/a.safetensors and
      DIR/b.safetensors (written by check_st_roundtrip) with tests/pyref/st.py
      and torch; F32 / I32 must equal the formula, BF16 must equal torch's own
      float32 -> bfloat16 conversion of it, bit for bit.
  st_torch_roundtrip.py write DIR   writes DIR/c.safetensors from torch tensors
      (F32, F16, BF16, F64, I64, BOOL) for `check_st_roundtrip compare`.

Exit status 77 when torch cannot be imported (CTest reports a skip).
The value formula is repeated in tests/check_st_roundtrip.c: keep in step."""

import math
import os
import sys

sys.dont_write_bytecode = True
try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"st_torch_roundtrip: skipped ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import st  # noqa: E402

M32 = np.uint64(0xFFFFFFFF)


def fnv1a(name):
    h = 2166136261
    for c in name.encode("utf-8"):
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def mix(seed, n):
    """The C mix() for i = 0..n-1, in uint64 arithmetic reduced mod 2^32."""
    x = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1)
    x = (x + np.uint64(seed) * np.uint64(0x85EBCA77) + np.uint64(0x165667B1)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x2C1B3C6D)) & M32
    x ^= x >> np.uint64(12)
    x = (x * np.uint64(0x297A2D39)) & M32
    x ^= x >> np.uint64(15)
    return x


def formula(kind, name, shape):
    n = math.prod(shape)
    x = mix(fnv1a(name), n)
    if kind == "f16":
        m = ((x >> np.uint64(21)) & np.uint64(0x7FF)).astype(np.int64) - 1024
        e = (x & np.uint64(7)).astype(np.int64) - 14
    elif kind == "bf16":
        m = ((x >> np.uint64(24)) & np.uint64(0xFF)).astype(np.int64) - 128
        e = (x & np.uint64(15)).astype(np.int64) - 12
    elif kind == "tie":  # odd 9-bit significands: halfway between two bf16 values
        m = ((x >> np.uint64(24)) | np.uint64(0x101)).astype(np.int64)
        m = np.where((x >> np.uint64(23)) & np.uint64(1), -m, m)
        e = (x & np.uint64(15)).astype(np.int64) - 12
    else:
        m = ((x >> np.uint64(8)) & np.uint64(0xFFFFFF)).astype(np.int64) - 8388608
        e = (x & np.uint64(15)).astype(np.int64) - 31
    v = np.ldexp(m.astype(np.float64), e.astype(np.int32))  # exact
    v32 = v.astype(np.float32)
    assert np.array_equal(v32.astype(np.float64), v)
    return torch.from_numpy(v32.reshape(shape))


# keep in step with A_SPECS / B_SPECS in check_st_roundtrip.c
A_SPECS = [
    ("model.embed_tokens.weight", "F32", [50, 16], "f32"),
    ("model.layers.0.self_attn.q_proj.weight", "F32", [16, 16], "f32"),
    ("model.layers.0.self_attn.q_proj.bias", "F32", [16], "f32"),
    ("model.layers.0.mlp.gate_proj.weight", "F32", [40, 16], "f32"),
    ("model.norm.weight", "F32", [16], "f32"),
    ("lm_head.weight", "F32", [50, 16], "f32"),
]
B_SPECS = [
    ("model.layers.1.self_attn.k_proj.weight", "BF16", [8, 16], "f32"),
    ("model.layers.1.self_attn.v_proj.weight", "BF16", [8, 16], "f32"),
    ("model.layers.1.mlp.down_proj.weight", "BF16", [16, 40], "f32"),
    ("model.layers.1.post_attention_layernorm.weight", "BF16", [16], "f32"),
    ("model.layers.1.self_attn.o_proj.weight", "BF16", [16, 16], "tie"),
    ("extra.position_ids", "I32", [7], None),
]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL {what}", file=sys.stderr)


def check_file(path, specs, want_meta):
    tensors, meta = st.load(path)  # also checks HF layout rules
    hdr, hlen, _ = st.header(path)
    check((8 + hlen) % 8 == 0, f"{path}: data section starts at {8 + hlen}, not a multiple of 8")
    check(list(hdr)[:1] == ["__metadata__"] or "__metadata__" not in hdr, f"{path}: key order")
    check(meta == want_meta, f"{path}: metadata {meta} != {want_meta}")
    check(sorted(tensors) == sorted(s[0] for s in specs), f"{path}: tensor names {sorted(tensors)}")
    # tensors lie in the data section in the order they were given to st_write
    order = sorted((e["data_offsets"][0], n) for n, e in hdr.items() if n != "__metadata__")
    check([n for _, n in order] == [s[0] for s in specs], f"{path}: data order {order}")
    for name, dt, shape, kind in specs:
        t = tensors.get(name)
        if t is None:
            continue
        check(t.dtype == st.DTYPES[dt] and list(t.shape) == shape, f"{name}: {t.dtype} {list(t.shape)}")
        if dt == "F32":
            ok = torch.equal(t, formula(kind, name, shape))
        elif dt == "BF16":
            ref = formula(kind, name, shape)
            want = ref.to(torch.bfloat16)
            ok = torch.equal(t.view(torch.int16), want.view(torch.int16))
            rel = ((t.float() - ref).abs() / ref.abs().clamp_min(1e-30)).max().item()
            print(f"  {name}: bf16 bits equal torch's rounding: {ok} (max rel. error {rel:.3g})")
        else:
            want = torch.from_numpy(mix(fnv1a(name), math.prod(shape)).astype(np.uint32).view(np.int32))
            ok = torch.equal(t.reshape(-1), want)
        check(ok, f"{name}: values differ from the formula")
    print(f"  {os.path.basename(path)}: {len(tensors)} tensors checked")


def mode_check(d):
    check_file(os.path.join(d, "a.safetensors"), A_SPECS, {"format": "pt"})
    check_file(os.path.join(d, "b.safetensors"), B_SPECS, {"format": "pt", "producer": 'thinkrl "check"'})


def mode_write(d):
    f32 = lambda name, shape: formula("f32", name, shape)  # noqa: E731
    out = {
        "c.f32": f32("c.f32", [33, 7]),
        "c.f16.exact": formula("f16", "c.f16.exact", [12, 10]).to(torch.float16),
        "c.bf16.exact": formula("bf16", "c.bf16.exact", [9, 9]).to(torch.bfloat16),
        "c.bf16.rounded": f32("c.bf16.rounded", [100]).to(torch.bfloat16),
        "c.bf16.ties": formula("tie", "c.bf16.ties", [100]).to(torch.bfloat16),
        "c.f16.rounded": f32("c.f16.rounded", [64]).to(torch.float16),
        "c.f16.special": torch.tensor([math.inf, -math.inf, math.nan, 65504.0, -0.0, 2.0**-24, 2.0**-14, 1 / 3],
                                      dtype=torch.float16),
        "c.f64": torch.tensor([0.1, -2.5, 1e30, 1 / 3, 0.0], dtype=torch.float64),
        "c.i64": torch.tensor([0, -1, 2**31 - 1, -2**31, 151643, 7], dtype=torch.int64),
        "c.bool": torch.tensor([True, False, False, True]),
        "c.scalar": torch.tensor(2.5, dtype=torch.float32),
        "c.empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    # the exact kinds must survive torch's conversion unchanged
    check(torch.equal(out["c.f16.exact"].float(), formula("f16", "c.f16.exact", [12, 10])), "f16 formula exact")
    check(torch.equal(out["c.bf16.exact"].float(), formula("bf16", "c.bf16.exact", [9, 9])), "bf16 formula exact")
    # one tensor at an odd byte offset: exercises unaligned reads in C
    out = {"c.odd": torch.tensor([1, 0, 1], dtype=torch.bool).view(torch.uint8), **out}
    path = os.path.join(d, "c.safetensors")
    st.save(path, out, {"format": "pt", "source": "torch \u00e9"})
    back, meta = st.load(path)
    check(all(torch.equal(back[k].view(st.RAW[back[k].element_size()]), v.view(st.RAW[v.element_size()]))
              for k, v in out.items() if v.numel()), "pyref st round trip")
    print(f"  wrote {path}: {len(out)} tensors")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "check":
        mode_check(sys.argv[2])
    else:
        mode_write(sys.argv[2])
    if failures:
        print(f"st_torch_roundtrip {sys.argv[1]}: {len(failures)} failures", file=sys.stderr)
        return 1
    print(f"st_torch_roundtrip {sys.argv[1]}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
