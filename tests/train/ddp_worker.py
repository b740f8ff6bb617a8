"""A tiny data-parallel run: ``torchrun --standalone --nproc_per_node 2 ddp_worker.py RUN_DIR [EPOCHS]``.

Each process saves its final parameters beside the run directory (``RUN_DIR.rank<r>.pt``), so the
test can check that the processes ended with the same model.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import standin  # noqa: E402
import torch  # noqa: E402

from chemnoether.train import TrainConfig, fit  # noqa: E402

run_dir = Path(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
windows = standin.ethanol_windows()
torch.manual_seed(int(os.environ["RANK"]))  # other initial weights per process: DDP must broadcast rank 0's
model = standin.StandIn()
config = TrainConfig(epochs=epochs, batch_size=16, lr=1e-2, device="cpu", progress=False, log_every=2)
result = fit(model, windows.train, windows.val, config, run_dir)
torch.save(model.state_dict(), f"{run_dir}.rank{os.environ['RANK']}.pt")
print(f"rank {os.environ['RANK']}: step {result.step}, resumed from {result.resumed_from_step}, stopped {result.stopped}")
