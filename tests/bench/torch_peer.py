#!/usr/bin/env python3
"""tests/bench/torch_peer.py — zonelab against PyTorch on the same shapes and threads.

    python3 tests/bench/torch_peer.py [--quick] [--threads N] [--zonelab build/zonelab]
                                      [--only forward|train] [--repeat R]

Runs zonelab's own benchmarks (tests/bench/forward.lua and train.lua, with --threads N)
and the same work in PyTorch with torch.set_num_threads(N), then prints one JSON line per
comparison: {"bench": "peer_forward" | "peer_train", "zonelab_tokens_per_s",
"torch_tokens_per_s", "ratio" (zonelab / PyTorch: > 1 means zonelab is faster), "ratios",
...}. Each comparison runs R rounds (--repeat, default 3) of zonelab then PyTorch, each
round's ratio measured at one moment; "ratio" is the median round's (its tokens/s are
reported beside it) and "ratios" lists every round's.

The PyTorch model is BERT-base built from torch.nn (embeddings + LayerNorm, 12 post-LN
TransformerEncoderLayers with exact GELU, a 2-way span head), random weights:
- forward: eval mode, no grad, batch 8 x seq 384 (--quick: 2 x 384), best of a few runs.
- train: dropout 0.1, span cross-entropy, backward, AdamW step, batch 4 x 384
  (--quick: 1 x 128), best of 2 steps after a warm-up. Each step's forward (with the
  loss), backward and optimizer are timed apart; the median round's line carries both
  sides' phases (zonelab's from train.lua: tr:phases()) as "zonelab_phases" and
  "torch_phases", and the step's CPU seconds over all threads ("zonelab_cpu_s",
  "torch_cpu_s": the work, which a loaded machine stretches less than the wall time).
  --profile adds "torch_backward_ops": one more PyTorch step's backward
  under torch.autograd.profiler, its ops' own seconds summed by kind (linear-layer
  products, attention, softmax, LayerNorm, GELU, dropout, the rest).
Needs Debian's python3-torch (apt-get install python3-torch; `make bench-peer` installs it
when missing). Timings on a shared machine are noisy: both sides keep their best time
within a round, and the rounds alternate.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def zonelab_bench(exe, script, quick, threads):
    cmd = [exe, script, "--threads", str(threads)] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def build_model(torch, nn):
    H, L, NH, I, V, P = 768, 12, 12, 3072, 30522, 512

    class Bert(nn.Module):
        def __init__(self, dropout):
            super().__init__()
            self.word = nn.Embedding(V, H)
            self.pos = nn.Embedding(P, H)
            self.typ = nn.Embedding(2, H)
            self.ln = nn.LayerNorm(H, eps=1e-12)
            self.drop = nn.Dropout(dropout)
            self.layers = nn.ModuleList(
                nn.TransformerEncoderLayer(H, NH, I, dropout=dropout, activation="gelu",
                                           layer_norm_eps=1e-12, batch_first=True)
                for _ in range(L))
            self.qa = nn.Linear(H, 2)
            # BERT's initialisation (as zl.bert.new's random init): N(0, 0.02), zero biases
            for mod in self.modules():
                if isinstance(mod, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(mod.weight, std=0.02)
                if isinstance(mod, nn.Linear) and mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            for layer in self.layers:  # the fused in-projection is not an nn.Linear
                nn.init.normal_(layer.self_attn.in_proj_weight, std=0.02)
                nn.init.zeros_(layer.self_attn.in_proj_bias)

        def forward(self, ids, types):
            S = ids.shape[1]
            pos = torch.arange(S).unsqueeze(0)
            x = self.drop(self.ln(self.word(ids) + self.pos(pos) + self.typ(types)))
            for layer in self.layers:
                x = layer(x)
            logits = self.qa(x)
            return logits[..., 0], logits[..., 1]

    return Bert


def inputs(torch, B, S):
    g = torch.Generator().manual_seed(12345)
    ids = torch.randint(1000, 29000, (B, S), generator=g)
    ids[:, 0] = 101
    ids[:, 41] = 102
    ids[:, S - 1] = 102
    types = torch.zeros(B, S, dtype=torch.long)
    types[:, 42:] = 1
    return ids, types


def torch_forward(torch, nn, quick):
    """Builds the model once; returns a function that times one round (best of a few)."""
    B, S = (2 if quick else 8), 384
    model = build_model(torch, nn)(0.0).eval()
    ids, types = inputs(torch, B, S)
    with torch.inference_mode():
        model(ids, types)  # warm-up

    def measure():
        best = float("inf")
        with torch.inference_mode():
            for _ in range(2 if quick else 3):
                t0 = time.perf_counter()
                model(ids, types)
                best = min(best, time.perf_counter() - t0)
        return B * S / best, best
    return measure


def torch_train(torch, nn, quick):
    """Builds the model once; returns a function that times one round (best of 2 steps)."""
    B, S = (1, 128) if quick else (4, 384)
    model = build_model(torch, nn)(0.1).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    ids, types = inputs(torch, B, S)
    sp = torch.tensor([52 + b for b in range(B)])
    ep = torch.tensor([54 + b for b in range(B)])
    ce = nn.CrossEntropyLoss()

    def step():
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        s, e = model(ids, types)
        loss = (ce(s, sp) + ce(e, ep)) / 2
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        return t3 - t0, dict(forward=t1 - t0, backward=t2 - t1, optimizer=t3 - t2,
                             cpu=time.process_time() - c0)

    step()  # warm-up

    def measure():
        best, phases = min((step() for _ in range(2)), key=lambda r: r[0])
        return B * S / best, best, phases

    def profile():
        """One more step's backward under the autograd profiler: self seconds by kind."""
        opt.zero_grad(set_to_none=True)
        s, e = model(ids, types)
        loss = (ce(s, sp) + ce(e, ep)) / 2
        with torch.autograd.profiler.profile() as prof:
            loss.backward()
        opt.step()
        kinds = [("products", ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul")),
                 ("attention", ("aten::bmm", "aten::baddbmm")),
                 ("softmax", ("aten::_softmax_backward_data",)),
                 ("layernorm", ("aten::native_layer_norm_backward",)),
                 ("gelu", ("aten::gelu_backward",)),
                 ("dropout", ("aten::native_dropout_backward", "aten::mul", "aten::masked_scale"))]
        out = {k: 0.0 for k, _ in kinds}
        out["other"] = 0.0
        for ev in prof.key_averages():
            sec = ev.self_cpu_time_total / 1e6
            kind = next((k for k, names in kinds if ev.key in names), "other")
            out[kind] += sec
        out["total"] = sum(out.values())
        return out
    measure.profile = profile
    return measure


def compare(exe, script, quick, threads, measure_torch, repeat, seconds_key):
    """repeat rounds of (zonelab, then PyTorch): the host's speed drifts within minutes, so
    the ratio of each round is measured at one moment, and the median of the rounds is
    reported."""
    rounds = []
    for _ in range(repeat):
        z = zonelab_bench(exe, script, quick, threads)
        t = measure_torch()
        rounds.append((z["tokens_per_s"] / t[0], z, t))
    rounds.sort(key=lambda r: r[0])
    ratio, z, t = rounds[len(rounds) // 2]
    r = dict(batch=z["batch"], seq=z["seq"], zonelab_tokens_per_s=z["tokens_per_s"],
             torch_tokens_per_s=t[0], zonelab_s=z[seconds_key], torch_s=t[1], ratio=ratio,
             ratios=[r[0] for r in rounds], repeat=repeat)
    if len(t) > 2:  # the training step: both sides' phases of the median round
        r.update(zonelab_phases=z.get("phases"), torch_phases=t[2],
                 zonelab_cpu_s=z.get("step_cpu_s"), torch_cpu_s=t[2]["cpu"])
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--zonelab", default="build/zonelab")
    ap.add_argument("--only", choices=["forward", "train"], default=None)
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of (zonelab, PyTorch) per comparison; the median ratio is reported")
    ap.add_argument("--profile", action="store_true",
                    help="train: also PyTorch's backward by op kind (torch.autograd.profiler)")
    a = ap.parse_args()
    # OpenBLAS's own threads (python3-torch links the pthread OpenBLAS) and spinning OpenMP
    # workers fight over the cores; a passive wait was PyTorch's faster setting here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
        from torch import nn
    except ImportError:
        print("torch_peer: PyTorch is missing: apt-get install python3-torch "
              "(and run this with Debian's /usr/bin/python3)", file=sys.stderr)
        return 1
    torch.manual_seed(1)
    torch.set_num_threads(a.threads)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    env = {"torch": torch.__version__, "threads": a.threads, "quick": a.quick}
    if a.only in (None, "forward"):
        r = compare(a.zonelab, os.path.join(root, "tests/bench/forward.lua"), a.quick, a.threads,
                    torch_forward(torch, nn, a.quick), a.repeat, "seconds")
        print(json.dumps(dict(env, bench="peer_forward", target=1.3, **r), sort_keys=True), flush=True)
    if a.only in (None, "train"):
        measure = torch_train(torch, nn, a.quick)
        r = compare(a.zonelab, os.path.join(root, "tests/bench/train.lua"), a.quick, a.threads,
                    measure, a.repeat, "step_s")
        if a.profile:
            r["torch_backward_ops"] = measure.profile()
        print(json.dumps(dict(env, bench="peer_train", target=1.2, **r), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
