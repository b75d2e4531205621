#!/usr/bin/env python3
"""Writes the request body of the serving benchmark from a real AV-MNIST test sample:
{"image": <base64 PNG of the 28x28 digit>, "audio": <base64 WAV of the clean 8 kHz recording>},
the body both `mmfuse serve` (POST /v1/models/lf:predict) and serve_peer.py (POST /predict) take.

  serve_body.py --data ../shared/data/avmnist --index 0 --out body.json
"""
import argparse, base64, gzip, io, json, os

from PIL import Image
import numpy as np


def idx_image(path, index):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(3))
    assert index < n, f'{path} has {n} images'
    off = 16 + index * rows * cols
    return np.frombuffer(raw[off:off + rows * cols], np.uint8).reshape(rows, cols)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--index', type=int, default=0)
    p.add_argument('--out', required=True)
    a = p.parse_args()
    with open(os.path.join(a.data, 'test.jsonl')) as f:
        line = json.loads(f.readlines()[a.index])
    png = io.BytesIO()
    Image.fromarray(idx_image(os.path.join(a.data, line['image']['file']), line['image']['index'])).save(png, 'PNG')
    with open(os.path.join(a.data, line['audio']['file']), 'rb') as f:
        wav = f.read()
    body = {'image': base64.b64encode(png.getvalue()).decode(), 'audio': base64.b64encode(wav).decode()}
    with open(a.out, 'w') as f:
        json.dump(body, f)
    print(json.dumps({'id': line['id'], 'label': line['label'], 'bytes': os.path.getsize(a.out)}))


if __name__ == '__main__':
    main()
