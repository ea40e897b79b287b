"""A small, independent safetensors reader and writer for the tests (struct +
json + torch), so that files written by the C library are checked by code
that shares nothing with it. Not the `safetensors` package; no mmap, no
streaming: test-sized files only.

    tensors, meta = load(path)          # dict name -> torch.Tensor, dict str->str
    save(path, tensors, meta=None)      # tensors: dict (order kept) name -> Tensor
    header(path)                        # (header dict, header length, data bytes)
"""

import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
# torch.Tensor.view(dtype) needs equal element sizes: the integer twin of each
# dtype gives the raw bytes through numpy (which has no bfloat16).
RAW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}

if sys.byteorder != "little":
    raise RuntimeError("pyref.st assumes a little-endian host")


def header(path):
    """Parses and checks the layout the Hugging Face reader insists on:
    header length a multiple of 8 once padded, offsets covering the data
    section back to back with no gap and no overlap."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} past end of file")
    hdr = json.loads(blob[8:8 + n].decode("utf-8"))
    if not isinstance(hdr, dict):
        raise ValueError(f"{path}: header is not an object")
    data = blob[8 + n:]
    spans = []
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        numel = 1
        for d in e["shape"]:
            if not isinstance(d, int) or d < 0:
                raise ValueError(f"{path}: tensor {name!r}: bad shape {e['shape']}")
            numel *= d
        size = torch.tensor([], dtype=DTYPES[e["dtype"]]).element_size()
        if end - b != numel * size:
            raise ValueError(f"{path}: tensor {name!r}: offsets [{b}, {end}] do not match shape")
        spans.append((b, end, name))
    spans.sort()
    pos = 0
    for b, end, name in spans:
        if b != pos:
            raise ValueError(f"{path}: tensor {name!r} starts at {b}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: tensors end at {pos}, data section is {len(data)} bytes")
    return hdr, n, data


def load(path):
    hdr, _, data = header(path)
    meta = hdr.pop("__metadata__", None) or {}
    out = {}
    for name, e in hdr.items():
        dt = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        if end == b:
            out[name] = torch.empty(e["shape"], dtype=dt)
            continue
        buf = bytearray(data[b:end])  # a private, writable copy
        out[name] = torch.frombuffer(buf, dtype=dt).reshape(e["shape"]).clone()
    return out, meta


def save(path, tensors, meta=None):
    hdr = {}
    if meta:
        hdr["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    chunks, pos = [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        raw = t.view(RAW[t.element_size()]).numpy().tobytes() if t.numel() else b""
        hdr[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                     "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    js = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for c in chunks:
            f.write(c)
