#!/usr/bin/env python3
"""Markdown table of bench/compare.sh's results (JSON lines): medians per side and the ratios of
issues 5 and 20 (the peer, ONNX Runtime), then the goals met or not.

  compare_table.py RESULTS.jsonl [--threads T] [--rounds R] [--steps N] [--model-steps "M=N ..."]
"""
import argparse, json, statistics

GOALS = {'train': 2.0, 'b1': 0.33, 'b40': 0.5, 'peak': 0.25, 'epoch': 2.0, 'ort': 1.0}
CONV_HEAVY = ('audio', 'lf', 'lrtf')  # issue 20: the models whose time is the audio LeNet's convolutions


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else float('nan')


def ort_table(models, pick, misses):
    """mmfuse fp32 beside ONNX Runtime fp32 on the peer's export and on mmfuse's own (issue 20)."""
    if not any(pick('ort_peer', 'bench', m) for m in models):
        print('\nONNX Runtime: not measured (onnxruntime-node unavailable or --no-ort)')
        return
    print('\nONNX Runtime fp32 (onnxruntime-node, ../shared/peers/ort_bench.js), same threads; ratios '
          'mmfuse / ORT on the peer\'s export (goal <= 1.0):\n')
    print('| model | batch-1 p50 ms mmfuse | ORT peer export | ORT mmfuse export | mmfuse / ORT '
          '| batch-40 p50 ms mmfuse | ORT peer export | ORT mmfuse export | mmfuse / ORT |')
    print('|' + '---|' * 9)
    for m in models:
        o, q, e = pick('mmfuse', 'bench', m), pick('ort_peer', 'bench', m), pick('ort_mmfuse', 'bench', m)
        row, ok = [m], True
        for key in ('batch1_p50_ms', 'batch40_p50_ms'):
            ratio = med(o, key) / med(q, key)
            ok = ok and ratio <= GOALS['ort']
            row += [f'{med(o, key):.3f}', f'{med(q, key):.3f}', f'{med(e, key):.3f}',
                    f"{ratio:.2f}{'' if ratio <= GOALS['ort'] else ' ✗'}"]
            if ratio > GOALS['ort']:
                misses.append(f"{m}: {key.split('_')[0]} latency {ratio:.2f}x ONNX Runtime's (goal <= 1.0x)")
        print('| ' + ' | '.join(row) + ' |')


def lever_table(models, pick):
    """compare.sh --unfused: training with LeNet's blocks as one oneDNN op (the default), with
    LibTorch's convolution before the fused BN-ReLU-pool op (--no-conv-blocks), and with the
    modules one by one (--unfused-blocks)."""
    if not any(pick('mmfuse_unfused', 'bench', m) for m in models):
        return
    print('\nLevers A/B, training blocks (`mmfuse bench` against `mmfuse --no-conv-blocks bench` and '
          '`mmfuse --unfused-blocks bench`, same rounds), train samples/s:\n')
    print('| model | conv blocks (default) | no conv blocks | unfused | default / no conv blocks '
          '| no conv blocks / unfused | default / peer | no conv blocks / peer | unfused / peer |')
    print('|' + '---|' * 9)
    for m in models:
        o, c, u, q = (med(pick(side, 'bench', m), 'train_samples_per_s')
                      for side in ('mmfuse', 'mmfuse_no_conv_blocks', 'mmfuse_unfused', 'peer'))
        print(f'| {m} | {o:.0f} | {c:.0f} | {u:.0f} | {o / c:.2f} | {c / u:.2f} | {o / q:.2f} '
              f'| {c / q:.2f} | {u / q:.2f} |')


def dispatch_line(benches):
    """What mmfuse ran on this CPU (its bench's "dispatch"), over every model of the run."""
    d = [r['dispatch'] for r in benches if 'dispatch' in r]
    if not d:
        return 'CPU dispatch: not reported'
    impls = []
    for x in d:
        impls += [i for i in x.get('implementations', []) if i not in impls]
    loops = ', '.join(f'{k} {v}' for k, v in sorted(d[0].get('kernel_loops', {}).items()))
    return (f"CPU dispatch (mmfuse bench): cpu isa {d[0].get('cpu_isa', '?')}, oneDNN "
            f"{d[0].get('onednn_version', '?')} ({d[0].get('onednn_runtime', '?')}); inference plan: "
            f"{', '.join(impls) or 'module path'}; mmfuse loops: {loops or '?'}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument('results')
    p.add_argument('--threads', default='?')
    p.add_argument('--rounds', default='?')
    p.add_argument('--steps', default='?')
    p.add_argument('--model-steps', default='')
    a = p.parse_args()
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    pick = lambda side, kind, model=None: [r for r in rows if r['side'] == side and r['kind'] == kind
                                           and (model is None or r['model'] == model)]
    gemm = pick('mmfuse', 'gemm')
    peak = med(gemm, 'peak_gflops')
    steps = f"{a.steps} steps" + (f" ({a.model_steps})" if a.model_steps else '')
    print(f"threads {a.threads}, batch 40, {steps}, {a.rounds} rounds (medians); "
          f"load average before/after: " + ' / '.join(r['loadavg'] for r in pick('host', 'load')))
    print(f"\nGEMM 1024x1024: torch::mm {med(gemm, 'torch_mm_gflops'):.2f} GFLOP/s, oneDNN "
          f"{med(gemm, 'dnnl_gflops'):.2f} GFLOP/s -> peak {peak:.2f} GFLOP/s\n")
    print(dispatch_line(pick('mmfuse', 'bench')) + '\n')
    print('| model | train samples/s mmfuse | peer | ratio (goal >= 2.0) | batch-1 p50 ms mmfuse | peer '
          '| ratio (goal <= 0.33) | batch-40 p50 ms mmfuse | peer | ratio (goal <= 0.5) '
          '| train GFLOP/s | of GEMM peak (goal >= 25%, conv-heavy) |')
    print('|' + '---|' * 12)
    misses = []
    models = []
    for r in rows:
        if r['kind'] == 'bench' and r['side'] in ('mmfuse', 'peer') and r['model'] not in models:
            models.append(r['model'])
    for m in models:
        o, q = pick('mmfuse', 'bench', m), pick('peer', 'bench', m)
        tr = med(o, 'train_samples_per_s') / med(q, 'train_samples_per_s')
        b1 = med(o, 'batch1_p50_ms') / med(q, 'batch1_p50_ms')
        b40 = med(o, 'batch40_p50_ms') / med(q, 'batch40_p50_ms')
        gf = med(o, 'gflops_achieved')
        frac = gf / peak
        mark = lambda ok: '' if ok else ' ✗'
        print(f"| {m} | {med(o, 'train_samples_per_s'):.0f} | {med(q, 'train_samples_per_s'):.0f} | "
              f"{tr:.2f}{mark(tr >= GOALS['train'])} | {med(o, 'batch1_p50_ms'):.3f} | "
              f"{med(q, 'batch1_p50_ms'):.3f} | {b1:.2f}{mark(b1 <= GOALS['b1'])} | "
              f"{med(o, 'batch40_p50_ms'):.2f} | {med(q, 'batch40_p50_ms'):.2f} | "
              f"{b40:.2f}{mark(b40 <= GOALS['b40'])} | {gf:.2f} | "
              f"{100 * frac:.0f}%{'' if m not in CONV_HEAVY else mark(frac >= GOALS['peak'])} |")
        if tr < GOALS['train']: misses.append(f'{m}: training {tr:.2f}x the peer (goal 2.0x)')
        if b1 > GOALS['b1']: misses.append(f'{m}: batch-1 latency {b1:.2f}x (goal <= 0.33x)')
        if b40 > GOALS['b40']: misses.append(f'{m}: batch-40 latency {b40:.2f}x (goal <= 0.5x)')
        if m in CONV_HEAVY and frac < GOALS['peak']:
            misses.append(f'{m}: training at {100 * frac:.0f}% of the GEMM peak (goal 25%)')
    lever_table(models, pick)
    ort_table(models, pick, misses)
    eo, ep = pick('mmfuse', 'epoch', 'lf'), pick('peer', 'epoch', 'lf')
    if eo and ep:
        so, sp = med(eo, 'seconds'), med(ep, 'seconds')
        limit = eo[0].get('limit', 20000)
        print(f"\nEnd to end, one lf epoch on {limit:,} training samples (feature extraction, training, val and test "
              f"evaluation; {len(eo)} round(s)): mmfuse {so:.1f} s, peer {sp:.1f} s, "
              f"speed-up {sp / so:.2f}x (goal >= 2.0x)")
        ew = pick('mmfuse', 'epoch_warm', 'lf')
        if ew:
            sw = med(ew, 'seconds')
            print(f"With mmfuse's feature cache warm (its default data spec; the spectrograms of an earlier run are "
                  f"read back, the peer has no cache): mmfuse {sw:.1f} s, speed-up {sp / sw:.2f}x")
        if sp / so < GOALS['epoch']:
            misses.append(f'end-to-end epoch {sp / so:.2f}x with the cache off'
                          + (f', {sp / sw:.2f}x warm' if ew else '') + ' (goal 2.0x)')
    print('\nGoals: ' + ('all met' if not misses else f'{len(misses)} missed'))
    for line in misses:
        print(f'- {line}')


if __name__ == '__main__':
    main()
