"""BERT encoder reference for tests/nn/encoder_bert_test.cpp: Hugging Face's BertModel
(transformers/models/bert/modeling_bert.py, eval mode, absolute positions, one segment) restated
with python3-torch under the same module names, since python3-transformers is not in Debian 12.

  bert_reference.py OUT_DIR

writes OUT_DIR/bert.safetensors (seeded random weights, HF names: embeddings.*, encoder.layer.N.*,
pooler.dense.*) and OUT_DIR/io.safetensors: ids [3, 9] (padded with 0 = [PAD]), lengths [3],
sequence [3, 9, 32] (last_hidden_state, zeroed past each length) and pooled [3, 32]
(pooler_output). Sizes: vocab 50, hidden 32, 2 layers, 4 heads, intermediate 48, 16 positions.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

V, H, LAYERS, HEADS, INTER, POS, TYPES, EPS = 50, 32, 2, 4, 48, 16, 2, 1e-12


class Residual(nn.Module):  # BertSelfOutput / BertOutput
    def __init__(self, n_in):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(n_in, H), nn.LayerNorm(H, eps=EPS)

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)

    def forward(self, x, ext_mask):
        b, t, _ = x.shape
        split = lambda y: y.view(b, t, HEADS, H // HEADS).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(H // HEADS) + ext_mask
        return (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, t, H)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self, self.output = SelfAttention(), Residual(H)

    def forward(self, x, m):
        return self.output(self.self(x, m), x)


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(H, INTER)

    def forward(self, x):
        return F.gelu(self.dense(x))  # erf GELU, HF's "gelu"


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention, self.intermediate, self.output = Attention(), Intermediate(), Residual(INTER)

    def forward(self, x, m):
        a = self.attention(x, m)
        return self.output(self.intermediate(a), a)


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(V, H)
        self.position_embeddings = nn.Embedding(POS, H)
        self.token_type_embeddings = nn.Embedding(TYPES, H)
        self.LayerNorm = nn.LayerNorm(H, eps=EPS)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        types = torch.zeros_like(ids)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos) +
                              self.token_type_embeddings(types))


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(LAYERS)])


class Pooler(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(H, H)


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings, self.encoder, self.pooler = Embeddings(), Stack(), Pooler()

    def forward(self, ids, attention_mask):
        ext = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, ext)
        return x, torch.tanh(self.pooler.dense(x[:, 0]))


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    dtypes = {torch.float32: 'F32', torch.int64: 'I64'}
    for k, t in tensors.items():
        b = t.detach().contiguous().numpy().tobytes()
        header[k] = {'dtype': dtypes[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def main(out):
    torch.manual_seed(0)
    net = Bert()
    with torch.no_grad():  # larger than HF's 0.02 so every part of the formulas shows
        for name, p in net.named_parameters():
            if 'LayerNorm' in name:
                p.uniform_(0.5, 1.5) if name.endswith('weight') else p.uniform_(-0.3, 0.3)
            else:
                p.normal_(0.0, 0.3)
    net.eval()
    lengths = torch.tensor([9, 5, 2])
    ids = torch.randint(5, V, (3, 9))
    ids[:, 0] = 2  # [CLS]
    mask = torch.arange(9)[None, :] < lengths[:, None]
    for i, n in enumerate(lengths.tolist()):
        ids[i, n - 1] = 3  # [SEP]
    ids = ids.masked_fill(~mask, 0)  # [PAD]
    with torch.no_grad():
        seq, pooled = net(ids, mask)
    save_safetensors(os.path.join(out, 'bert.safetensors'), net.state_dict())
    save_safetensors(os.path.join(out, 'io.safetensors'),
                     {'ids': ids, 'lengths': lengths, 'sequence': seq * mask[:, :, None], 'pooled': pooled})


if __name__ == '__main__':
    main(sys.argv[1])
