"""Checks tok1d kernel outputs (written by dist/tools/dump-cases.js) against PyTorch in float64.

Usage: python3 tools/torch_check.py CASES_DIR [REPORT.json]
Prints one line per case (relative L2 error of each output) and exits 1 if any exceeds 1e-5
(codebook indices: the fraction that differ from torch's argmin where the top-2 gap exceeds 1e-3).
"""
import json
import os
import sys

import numpy as np
import torch

d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
dev = "cuda" if torch.cuda.is_available() else "cpu"


def load(spec, dtype=np.float32):
    return torch.from_numpy(np.fromfile(os.path.join(d, spec["file"]), dtype=dtype).reshape(spec["shape"]).copy())


def rel(a, b):
    a = a.double().cpu().flatten()
    b = b.double().cpu().flatten()
    return float(torch.linalg.norm(a - b) / max(torch.linalg.norm(b), 1e-300))


report = {"adapter": m["adapter"], "torch": torch.__version__, "device": dev, "cases": []}
ok = True
for c in m["cases"]:
    x = {k: load(v).double().to(dev) for k, v in c["inputs"].items()}
    got = {k: load(v, np.uint32 if v["dtype"] == "u32" else np.float32) for k, v in c["outputs"].items()}
    op = c["op"]
    want = {}
    if op == "matmul":
        want["c"] = torch.nn.functional.gelu(x["a"] @ x["b"] + x["bias"])
    elif op == "matmul_bt":
        want["c"] = x["a"] @ x["b"].T
    elif op == "matmul_at":
        want["c"] = x["a"].T @ x["b"]
    elif op == "gelu_erf":
        want["y"] = torch.nn.functional.gelu(x["x"])
    elif op == "gelu_tanh":
        want["y"] = torch.nn.functional.gelu(x["x"], approximate="tanh")
    elif op == "layernorm":
        xx = x["x"]
        mean = xx.mean(-1)
        var = xx.var(-1, unbiased=False)
        rstd = 1 / torch.sqrt(var + c["params"]["eps"])
        want["y"] = torch.nn.functional.layer_norm(xx, (xx.shape[-1],), x["gamma"], x["beta"], c["params"]["eps"])
        want["mean"] = mean
        want["rstd"] = rstd
    elif op == "softmax":
        want["y"] = torch.softmax(x["x"], -1)
    elif op == "attention":
        p = c["params"]
        B, T, H, Dh = p["batch"], p["seq"], p["heads"], p["headDim"]
        qkv = x["qkv"].reshape(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        s = (q @ k.transpose(-1, -2)) / (Dh ** 0.5)
        want["lse"] = torch.logsumexp(s, -1)
        want["out"] = (torch.softmax(s, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, H * Dh)
    elif op == "codebook":
        z, e = x["z"], x["codebook"]
        dist = (z * z).sum(-1, keepdim=True) + (e * e).sum(-1)[None, :] - 2 * z @ e.T
        top2 = torch.topk(dist, 2, largest=False)
        idx = top2.indices[:, 0].cpu()
        gap = (top2.values[:, 1] - top2.values[:, 0]).cpu()
        g = got["indices"].long()
        clear = gap > 1e-3
        mism = int(((g != idx) & clear).sum())
        line = {"name": c["name"], "index_mismatches_clear": mism, "near_ties": int((~clear).sum())}
        chosen = dist.gather(1, g.to(dev)[:, None])[:, 0]
        line["distances"] = rel(got["distances"], chosen)
        good = mism == 0 and line["distances"] <= 1e-5
        ok &= good
        line["ok"] = good
        report["cases"].append(line)
        print(json.dumps(line))
        continue
    line = {"name": c["name"]}
    good = True
    for k, w in want.items():
        e = rel(got[k].reshape(w.shape), w)
        line[k] = e
        good &= e <= 1e-5
    line["ok"] = good
    ok &= good
    report["cases"].append(line)
    print(json.dumps(line))

report["ok"] = ok
if len(sys.argv) > 2:
    json.dump(report, open(sys.argv[2], "w"), indent=1)
print("ALL OK" if ok else "SOME FAILED")
sys.exit(0 if ok else 1)
