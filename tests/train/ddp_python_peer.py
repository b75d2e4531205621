"""A rank that joins through PyTorch's own init_process_group("gloo", init_method="env://").

Started by DistributedTest.PythonRankJoinsTheSameJob next to a C++ rank running
DistributedWorker.PythonPeer: both make the same collectives and write what they got to
$MMFUSE_DDP_TEST_DIR/<python|cpp>_rank<r>.txt, one line per collective.
"""
import datetime
import os

import torch
import torch.distributed as dist

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
rank = dist.get_rank()
summed = torch.full((4,), float(rank + 1))
dist.all_reduce(summed)
shared = torch.arange(6, dtype=torch.float32) * (rank + 1)
dist.broadcast(shared, 0)
dist.barrier()
with open(os.path.join(os.environ["MMFUSE_DDP_TEST_DIR"], f"python_rank{rank}.txt"), "w") as f:
    f.write(" ".join(f"{v:g}" for v in summed.tolist()) + "\n")
    f.write(" ".join(f"{v:g}" for v in shared.tolist()) + "\n")
dist.destroy_process_group()
