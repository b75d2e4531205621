#!/usr/bin/env python3
"""The peer's AV-MNIST spectrogram (avmnist_peer.audio_features) over every clip of a folder.

  /usr/bin/python3 bench/audio_features_peer.py [--dir ../shared/data/fsdd/recordings] [--threads 2]

Prints one JSON line: clips, threads, seconds, clips_per_s, cpu_us_per_clip, checksum (sum of
all features).
"""
import argparse, json, os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, '..', '..', 'shared'))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dir', default=os.path.join(SHARED, 'data', 'fsdd', 'recordings'))
    p.add_argument('--peers', default=os.path.join(SHARED, 'peers'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--limit', type=int, default=0)
    a = p.parse_args()
    sys.path.insert(0, a.peers)
    import torch
    import avmnist_peer
    torch.set_num_threads(a.threads)
    files = sorted(f for f in os.listdir(a.dir) if f.endswith('.wav'))
    if a.limit:
        files = files[:a.limit]
    avmnist_peer.audio_features(a.dir, files[0])  # imports scipy; not timed
    avmnist_peer._WAVS.clear()
    checksum = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for f in files:
        checksum += float(avmnist_peer.audio_features(a.dir, f).sum(dtype='float64'))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({'impl': 'peer', 'clips': len(files), 'threads': a.threads, 'seconds': round(dt, 3),
                      'clips_per_s': round(len(files) / dt, 1), 'cpu_us_per_clip': round(cpu / len(files) * 1e6, 1), 'checksum': round(checksum, 3),
                      'torch': torch.__version__}))


if __name__ == '__main__':
    main()
