"""torchvision ResNet references for tests/nn/encoder_resnet_test.cpp (Debian python3-torchvision).

  torchvision_resnet_reference.py OUT_DIR

writes OUT_DIR/resnet18.safetensors (a seeded random resnet18 state_dict, batch-norm statistics
and affine parameters moved away from 1/0 so eval mode is exercised, fc included),
OUT_DIR/io.safetensors (input [2, 3, 72, 64], features = the average-pooled map [2, 512],
logits [2, 1000], all in eval mode) and OUT_DIR/shapes.json ({arch: {tensor: shape}} of the
state_dicts of resnet18, resnet34 and resnet50).
"""
import json
import os
import struct
import sys

import torch
import torchvision

DTYPES = {torch.float32: 'F32', torch.int64: 'I64'}


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.detach().contiguous().numpy().tobytes()
        header[k] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def main(out):
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.num_batches_tracked.fill_(7)
    net.eval()
    save_safetensors(os.path.join(out, 'resnet18.safetensors'), net.state_dict())
    x = torch.rand(2, 3, 72, 64)
    with torch.no_grad():
        f = net.layer4(net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x))))))))
        features = torch.flatten(net.avgpool(f), 1)
        logits = net(x)
    save_safetensors(os.path.join(out, 'io.safetensors'), {'input': x, 'features': features, 'logits': logits})
    shapes = {}
    torch.nn.init.kaiming_normal_ = lambda t, *a, **k: t  # shapes only: skip the slow init
    for arch in ('resnet18', 'resnet34', 'resnet50'):
        sd = getattr(torchvision.models, arch)().state_dict()
        shapes[arch] = {k: list(v.shape) for k, v in sd.items()}
    json.dump(shapes, open(os.path.join(out, 'shapes.json'), 'w'))


if __name__ == '__main__':
    main(sys.argv[1])
