#!/usr/bin/env python3
"""Where a process's resident memory is, from /proc/PID/smaps (Linux, glibc malloc):

  main heap      the [heap] mapping (glibc's main arena, brk)
  malloc arenas  the 64 MiB-aligned anonymous heaps glibc gives each further arena (threads that
                 found the existing arenas busy); their count is the number of such heaps
  stacks         anonymous mappings of 8 MiB + a guard page (thread stacks)
  other anon     other anonymous mappings (large mmap()ed blocks, torch's pools)
  files          file-backed mappings (code, data, read-only model files)

  bench/rss_breakdown.py PID [--json]
"""
import json
import sys

ARENA_ALIGN = 64 << 20  # glibc HEAP_MAX_SIZE on 64-bit


def breakdown(pid):
    classes = {"main heap": 0, "malloc arenas": 0, "stacks": 0, "other anon": 0, "files": 0}
    arenas = 0
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                name = parts[5] if len(parts) > 5 else ""
                size = hi - lo
                if name == "[heap]":
                    cur = "main heap"
                elif name.startswith("/"):
                    cur = "files"
                elif name.startswith("["):
                    cur = "other anon"
                elif lo % ARENA_ALIGN == 0 and size <= ARENA_ALIGN and "rw" in parts[1]:
                    cur = "malloc arenas"
                    arenas += 1
                elif size in (8 << 20, (8 << 20) + 4096) and "rw" in parts[1]:
                    cur = "stacks"
                else:
                    cur = "other anon"
            elif parts[0] == "Rss:" and cur:
                classes[cur] += int(parts[1])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    threads = len(__import__("os").listdir(f"/proc/{pid}/task"))
    return {"rss_kb": rss, "threads": threads, "arena_heaps": arenas, "kb": classes}


if __name__ == "__main__":
    b = breakdown(int(sys.argv[1]))
    if "--json" in sys.argv:
        print(json.dumps(b))
    else:
        print(f"RSS {b['rss_kb']} kB, {b['threads']} threads, {b['arena_heaps']} malloc arena heaps")
        for k, v in b["kb"].items():
            print(f"  {k:14s} {v:9d} kB")
