"""Minimal safetensors reader/writer (struct + json + numpy) for the PyTorch
reference scripts, written from shared/FORMATS.md. Private to tests/pyref and
bench/; it does not handle sharded models or every dtype."""

import json
import struct

import numpy as np
import torch

# dtype name -> (numpy dtype used to read the raw bytes, bytes per element)
_READ = {
    "F64": (np.dtype("<f8"), 8),
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # widened to F32 below
    "I64": (np.dtype("<i8"), 8),
    "I32": (np.dtype("<i4"), 4),
    "U8": (np.dtype("u1"), 1),
}

_WRITE = {
    torch.float32: ("F32", np.dtype("<f4")),
    torch.int32: ("I32", np.dtype("<i4")),
    torch.uint8: ("U8", np.dtype("u1")),
}


def read_header(path):
    """Returns (header dict, data start offset) of a .safetensors file."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("%s: truncated header length" % path)
        (n,) = struct.unpack("<Q", raw)
        hdr = f.read(n)
        if len(hdr) != n:
            raise ValueError("%s: truncated header" % path)
    return json.loads(hdr.decode("utf-8")), 8 + n


def read_safetensors(path, with_metadata=False):
    """name -> torch tensor (F32/F16/BF16/F64/I32/I64/U8). BF16 is returned
    widened to float32 (exactly); F16 stays float16. Optionally returns the
    __metadata__ map too."""
    header, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _READ:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        npdt, size = _READ[dt]
        shape = [int(s) for s in info["shape"]]
        b, e = info["data_offsets"]
        numel = int(np.prod(shape)) if shape else 1
        if e - b != numel * size or e > len(data) or b < 0:
            raise ValueError("%s: tensor %s has bad data_offsets" % (path, name))
        arr = np.frombuffer(data, dtype=npdt, count=numel, offset=b).copy()
        if dt == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(arr.reshape(shape))
    if with_metadata:
        return out, dict(header.get("__metadata__", {}))
    return out


def write_safetensors(path, tensors, metadata=None):
    """Writes float32 ("F32"), int32 ("I32") and uint8 ("U8") tensors in the
    given order. The JSON header is padded with spaces to a multiple of 8."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _WRITE:
            raise ValueError("write_safetensors: %s has unsupported dtype %s" % (name, t.dtype))
        code, npdt = _WRITE[t.dtype]
        b = t.numpy().astype(npdt, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
