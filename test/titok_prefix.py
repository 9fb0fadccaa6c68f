#!/usr/bin/python3
"""Prefix decoding with the reference TiTok code: decodes the first K' of each image's token ids.

The reference decoder slices its latent positional embedding to the tokens it is given
(latent_token_positional_embedding[:seq_len]) after asserting that they number
num_latent_tokens; setting that attribute to K' is the only change, so everything else is the
reference's own computation.

  titok_prefix.py REFERENCE_DIR MODEL_DIR K' OUT.f32

MODEL_DIR is a folder official.py wrote (config.json, model.safetensors, result.json); OUT gets
float32 [B, S, S, 3] (NHWC), unclamped.
"""
import json
import os
import struct
import sys

ref, model_dir, k, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, os.path.join(ref, "shims"))
sys.path.insert(0, os.path.join(ref, "official"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from modeling.titok import TiTok  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"]).copy())
    return tensors


with open(os.path.join(model_dir, "config.json")) as f:
    config = json.load(f)
model = TiTok(config).eval()
model.load_state_dict(read_safetensors(os.path.join(model_dir, "model.safetensors")))
with open(os.path.join(model_dir, "result.json")) as f:
    tokens = torch.tensor(json.load(f)["tokens"])[:, :k]
model.decoder.num_latent_tokens = k
with torch.no_grad():
    decoded = model.decode_tokens(tokens.unsqueeze(1))
np.ascontiguousarray(decoded.permute(0, 2, 3, 1).numpy()).astype("<f4").tofile(out)
