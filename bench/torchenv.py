"""Imports torch for the benchmarks with the thread settings fixed first.

OpenBLAS and OpenMP read their thread counts at load time, and with the
default active wait their threads spin against each other on 2 cores
(measured 10-25x slower), so the environment is set before the import unless
the caller already set it.

OpenBLAS picks its kernels by CPU model when it loads, unless
OPENBLAS_CORETYPE names one; blas_info() tells which it runs, so every
reference line says what its products ran on (bench/torchblas.sh decides the
environment the references get)."""
import os
import sys

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")


def import_torch(threads):
    """Returns (torch, torch.nn.functional, pyref.model, pyref.stio)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pyref"))
    import model as pm
    import stio
    torch.set_num_threads(threads)
    return torch, F, pm, stio


def blas_info():
    """The OpenBLAS kernel family this process runs and the OPENBLAS_CORETYPE
    it was given ("" when OpenBLAS detected the CPU itself)."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        core = "unknown (not OpenBLAS)"
    return {"blas_core": core, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")}
