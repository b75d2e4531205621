#!/usr/bin/env python3
"""Reference values for tests/nn/fusion_specific_test.cpp from the peer's own fusion modules.

  /usr/bin/python3 fusion_peer_parity.py PEERS_DIR OUT_DIR

Builds the peer's CrossAttention, LowRankTensorFusion and TensorFusion (avmnist_peer.py) with
their LeNets and heads replaced by identities, so they map encoder outputs to fused vectors,
fills every parameter with seeded random values, runs them in eval mode and writes each tensor
as raw little-endian float32 (OUT_DIR/<n>.bin) plus OUT_DIR/manifest.json {name: shape}.
Names: <case>/param/<peer key>, <case>/in/<input>, <case>/out for case in xattn, lrtf, tf.
"""
import json, os, sys

import torch
import torch.nn as nn

peers, out_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, peers)
import avmnist_peer as peer  # noqa: E402

torch.manual_seed(0)
manifest = {}


def put(name, t):
    t = t.detach().contiguous().float()
    path = os.path.join(out_dir, '%d.bin' % len(manifest))
    t.numpy().astype('<f4').tofile(path)
    manifest[name] = {'file': os.path.basename(path), 'shape': list(t.shape)}


def strip(model):
    model.img, model.aud, model.head = nn.Identity(), nn.Identity(), nn.Identity()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return model.eval()


def case(name, model, *inputs):
    with torch.no_grad():
        out = model(*inputs)
    for k, v in model.state_dict().items():
        put(name + '/param/' + k, v)
    for k, v in zip(('image', 'audio'), inputs):
        put(name + '/in/' + k, v)
    put(name + '/out', out)


B = 3
case('xattn', strip(peer.CrossAttention(d=40, heads=4)), torch.randn(B, 12, 7, 7),
     torch.randn(B, 48, 7, 7))
case('lrtf', strip(peer.LowRankTensorFusion(dims=(12, 20), out=16, rank=5)), torch.randn(B, 12),
     torch.randn(B, 20))
case('tf', strip(peer.TensorFusion()), torch.randn(B, 12), torch.randn(B, 20))

with open(os.path.join(out_dir, 'manifest.json'), 'w') as f:
    json.dump(manifest, f)
