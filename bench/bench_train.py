#!/usr/bin/python3
"""PyTorch side of the training-step benchmark (run with /usr/bin/python3):
loads an HF-layout config.json + safetensors written by thinkrl and times
forward + mean next-token CE + backward + AdamW step in float32 on the CPU.

  bench_train.py --model DIR [--B 16] [--T 128] [--steps 10] [--warmup 2]
                 [--threads 2] [--seed 1234] [--lr 1e-4] [--json]
  bench_train.py --sgemm-peak [--threads 2] [--json]

step_s is the mean over the timed steps (step_s_min the best one);
tokens_per_s counts B*T tokens per step (all positions go through forward and
backward; the loss uses the B*(T-1) next-token targets). peak_rss_mb is the
process's peak resident set (getrusage), torch import included.

Threads: Debian's torch calls the system BLAS (OpenBLAS), whose own thread
pool ignores torch.set_num_threads, and libgomp spin-waits by default; on a
small shared machine that oversubscribes the cores and steps take 2-10x
longer. So before torch is imported, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS
default to --threads and OMP_WAIT_POLICY to PASSIVE (an environment that
already sets them wins); the values used are in the JSON line.
"""

import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchenv  # noqa: E402
import time

THREAD_ENV = torchenv.THREAD_ENV
torch = F = pm = stio = None  # imported by import_torch() once the env is set


def import_torch(threads):
    global torch, F, pm, stio
    torch, F, pm, stio = torchenv.import_torch(threads)


def thread_env():
    res = {k.lower(): os.environ.get(k, "") for k in THREAD_ENV}
    res.update(torchenv.blas_info())
    return res


def load_weights(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        out = {}
        for s in shards:
            out.update(stio.read_safetensors(os.path.join(d, s)))
        return out
    return stio.read_safetensors(os.path.join(d, "model.safetensors"))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def sgemm_peak(args):
    n = 2048
    g = torch.Generator().manual_seed(args.seed)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    c = torch.empty(n, n)
    for _ in range(2):
        torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    gflops = 2.0 * n ** 3 / best / 1e9
    if args.json:
        res = {"impl": "torch", "sgemm_gflops": round(gflops, 2), "n": n, "threads": args.threads}
        res.update(thread_env())
        print(json.dumps(res))
    else:
        print("torch sgemm %dx%dx%d, %d threads: %.1f GFLOP/s (best of 5: %.4fs)"
              % (n, n, n, args.threads, gflops, best))
    return 0


def bench(args):
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    model = pm.BenchModel(cfg, load_weights(args.model))
    model.train()
    V = model.c["V"]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, V, (args.B, args.T), generator=g)
    inp, tgt = ids, ids[:, 1:].reshape(-1)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(inp)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), tgt)
        loss.backward()
        opt.step()
        return loss.item()

    loss_first = None
    for _ in range(args.warmup):
        l = step()
        loss_first = l if loss_first is None else loss_first
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        l = step()
        times.append(time.perf_counter() - t0)
        loss_first = l if loss_first is None else loss_first
    step_s = sum(times) / len(times)
    res = {
        "impl": "torch",
        "tokens_per_s": round(args.B * args.T / step_s, 2),
        "step_s": round(step_s, 6),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "loss_first": round(loss_first, 6),
        "threads": args.threads,
        # extras: the best step (less sensitive to other load on the machine)
        # and the shape, so a log line stands on its own
        "step_s_min": round(min(times), 6),
        "B": args.B, "T": args.T,
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    res.update(thread_env())
    if args.json:
        print(json.dumps(res))
    else:
        nparam = res["n_params"]
        print("torch %s: %d params, B=%d T=%d, %d threads: %.4fs/step (min %.4f), %.0f tok/s, "
              "first loss %.4f, peak RSS %.0f MB"
              % (cfg.get("architectures", ["?"])[0], nparam, args.B, args.T, args.threads,
                 step_s, min(times), res["tokens_per_s"], loss_first, res["peak_rss_mb"]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="directory with config.json and model.safetensors")
    ap.add_argument("--B", type=int, default=16, help="batch rows (default 16)")
    ap.add_argument("--T", type=int, default=128, help="tokens per row (default 128)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the random ids (default 1234)")
    ap.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--sgemm-peak", action="store_true",
                    help="print torch's GFLOP/s on a 2048^3 float32 matmul instead")
    args = ap.parse_args()
    import_torch(args.threads)
    if args.sgemm_peak:
        return sgemm_peak(args)
    if not args.model:
        ap.error("--model DIR is required (or --sgemm-peak)")
    if args.steps < 1 or args.B < 1 or args.T < 2:
        ap.error("need --steps >= 1, --B >= 1, --T >= 2")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
