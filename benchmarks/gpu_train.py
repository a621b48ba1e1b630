"""Training steps on a GPU: how fast each network trains, what share of a step its data takes, and how close
the steps come to the hardware (issue 29).

    python benchmarks/gpu_train.py [--configs quick width32 paper] [--steps 10] [--warmup 3] [--compile]
        [--channels-last] [--device cuda]

For each configuration, at its crop and batch, a :class:`rstor_core.networks.train.Trainer` of a blind motion-deblurring
experiment on dead leaves (PSNR loss, AdamW, bf16 autocast on a GPU, as the quick profile's deblurring
networks train) is timed on this device:

- ``step_ms``: one :meth:`~rstor_core.networks.train.Trainer.train_step` on a batch already there (forward, backward,
  clipping, AdamW), the median of ``--steps`` after ``--warmup``;
- ``data_ms``: one batch of the experiment as the Trainer makes it on this device (dead leaves rendered,
  motion kernels drawn, blur and noise applied: :meth:`rstor_core.networks.batches.TrainingBatches.batch`);
  ``data_share`` = data / (data + step), what the data path costs a step that waits for it;
- ``img_per_s``: batch / (step + data);
- ``gflop_per_image``: a training step's floating-point operations per image, three times the forward's
  (the backward computes the gradients of the inputs and of the weights, each costing a forward), the forward
  counted by ``torch.utils.flop_counter``; ``tflop_s``: those per second of ``step_ms``. Not the counter over
  the backward: it counts a depthwise convolution's backward as ``channels`` + 1 forwards instead of two (a
  3x3 depthwise layer of 32 channels: 34x), which made the quick NAFNet's step 2.03 GFLOP per 96² image
  instead of 0.87; issue 29's "67 GFLOP per 128² image" (width32) and "1,073 per 256² image" (paper) are that
  count: three forwards are 23.9 and 378, so the rates it derived from them (4.5 and 54 TFLOP/s) were 2.8x high;
- ``matmul_tflop_s``: a bf16 (GPU) or float32 (CPU) matrix product's rate measured in the same run, the
  reference the network's rate is a share of (``share_of_matmul``).

Configurations (crop, batch on a GPU): quick, the quick profile's NAFNet (width 16, one block per level) at
96², batch 64; width32, NAFNet width 32 with blocks [1, 1, 1, 28] / 1 / [1, 1, 1, 1] (17.1 M parameters) at
128², batch 16; paper, the original study's width 64 with the same blocks (67.9 M) at 256², batch 8. With no
GPU the table is the CPU's, at batches of 8 / 2 / 1 (said in the output): the script runs anywhere; its
numbers for the issue's goals come from a GPU. Goals on an H200 (issue 29): width32 >= 1,300 img/s, paper
>= 125 img/s, data <= 10 % of a step for quick at batch 64 and width32 at batch 16.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from dataclasses import dataclass

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode
from train_step import median_seconds  # this folder's: run as `python benchmarks/gpu_train.py`

from rstor_core.networks.models import count_parameters
from rstor_core.networks.train import Trainer
from rstor_core.settings.configs import ExperimentConfig, ModelConfig, NAFNetConfig


@dataclass(frozen=True)
class Setting:
    network: NAFNetConfig
    crop: int
    gpu_batch: int
    cpu_batch: int


DEEP = dict(enc_blk_nums=(1, 1, 1, 28), middle_blk_num=1, dec_blk_nums=(1, 1, 1, 1))
SETTINGS = {
    "quick": Setting(NAFNetConfig(), 96, 64, 8),
    "width32": Setting(NAFNetConfig(width=32, **DEEP), 128, 16, 2),
    "paper": Setting(NAFNetConfig(width=64, **DEEP), 256, 8, 1),
}


def matmul_tflops(device: torch.device, repeats: int = 5) -> float:
    """The rate of a square matrix product on ``device`` (bf16 on a GPU, float32 on a CPU), in TFLOP/s."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    return 2 * n ** 3 / median_seconds(lambda: a @ b, repeats, device) / 1e12


def gpu_train_table(configs=tuple(SETTINGS), *, device: torch.device | str | None = None, steps: int = 10,
                    warmup: int = 3, compile: bool = False, channels_last: bool = False) -> pd.DataFrame:
    """The table the module docstring describes, one row per configuration."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    reference = matmul_tflops(device)
    rows = []
    for name in configs:
        setting = SETTINGS[name]
        batch = setting.gpu_batch if device.type == "cuda" else setting.cpu_batch
        config = ExperimentConfig(blur="motion", crop=setting.crop, batch_size=batch, loss="psnr", optimiser="adamw",
                                  betas=(0.9, 0.9), schedule="constant", steps=warmup + steps + 1,
                                  model=ModelConfig(nafnet=setting.network), compile=compile,
                                  channels_last=channels_last)
        with tempfile.TemporaryDirectory() as folder:
            trainer = Trainer(config, folder, device=device, progress=False)
            next_step = itertools.count()  # a new step's batch at every call
            data_s = median_seconds(lambda: trainer.batches.batch(next(next_step)), max(steps, 1), device)
            degraded, clean = trainer.batches.batch(0)
            for _ in range(warmup):
                trainer.train_step(degraded, clean)
            step_s = median_seconds(lambda: trainer.train_step(degraded, clean), max(steps, 1), device)
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                trainer.model(degraded)
            flops = 3 * counter.get_total_flops()  # forward + backward (see the module docstring)
            rows.append({"config": name, "device": str(device), "crop": setting.crop, "batch": batch,
                         "parameters": count_parameters(trainer.model), "step_ms": step_s * 1e3,
                         "data_ms": data_s * 1e3, "data_share": data_s / (data_s + step_s),
                         "img_per_s": batch / (step_s + data_s), "gflop_per_image": flops / batch / 1e9,
                         "tflop_s": flops / step_s / 1e12, "matmul_tflop_s": reference,
                         "share_of_matmul": flops / step_s / 1e12 / reference})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", choices=tuple(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (the compile knob)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--device", help="default: cuda when available")
    args = parser.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}; torch {torch.__version__}, CUDA {torch.version.cuda}")
    else:
        print(f"no GPU: the CPU's numbers ({torch.get_num_threads()} torch threads), at batches "
              f"{', '.join(f'{n} {SETTINGS[n].cpu_batch}' for n in args.configs)} instead of the GPU's")
    table = gpu_train_table(args.configs, device=device, steps=args.steps, warmup=args.warmup, compile=args.compile,
                            channels_last=args.channels_last)
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
