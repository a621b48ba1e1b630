"""Training and inference speed of the quick and paper NAFNet configurations.

    .venv/bin/python benchmarks/train_step.py [--crop 128] [--batch 8] [--repeats 3] [--skip-paper]

Training: forward + MSE backward + Adam step, in images per second, on (batch, 3, crop, crop).
Inference: ms per megapixel on one 256 x 256 image under ``torch.inference_mode``. On the CPU
and, when one is present, on the GPU (bf16 autocast, as the Trainer uses there). The paper
configuration is NAFNet width 64 with the official SIDD block counts; on a 2-core CPU it is
only timed, never trained.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from rstor_core.networks.models import NAFNet, count_parameters
from rstor_core.settings.configs import NAFNetConfig

CONFIGS = {"quick": NAFNetConfig(),
           "paper": NAFNetConfig(width=64, middle_blk_num=12, enc_blk_nums=(2, 2, 4, 8), dec_blk_nums=(2, 2, 2, 2))}


def median_seconds(fn, repeats: int, device: torch.device) -> float:
    """The median of ``repeats`` timings of ``fn()`` after one untimed call, the GPU synchronised around each."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def speed_table(*, crop: int = 128, batch: int = 8, repeats: int = 3, configs=("quick", "paper")) -> pd.DataFrame:
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for name in configs:
        for device in devices:
            model = NAFNet.from_config(CONFIGS[name]).to(device)
            optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
            x = torch.rand(batch, 3, crop, crop, device=device)
            autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

            def step():
                optimiser.zero_grad(set_to_none=True)
                with torch.autocast(**autocast):
                    loss = torch.nn.functional.mse_loss(model(x).float(), x)
                loss.backward()
                optimiser.step()

            image = torch.rand(1, 3, 256, 256, device=device)

            def infer():
                with torch.inference_mode(), torch.autocast(**autocast):
                    model(image)

            rows.append({"config": name, "device": device.type, "parameters": count_parameters(model),
                         "train_img_per_s": batch / median_seconds(step, repeats, device),
                         "inference_ms_per_mpix": 1e3 * median_seconds(infer, repeats, device) / (256 * 256 / 1e6)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args()
    configs = ("quick",) if args.skip_paper else ("quick", "paper")
    print(f"batch {args.batch} x 3 x {args.crop}²; torch threads: {torch.get_num_threads()}; median of {args.repeats}")
    table = speed_table(crop=args.crop, batch=args.batch, repeats=args.repeats, configs=configs)
    print(table.to_markdown(index=False, floatfmt=("", "", ",.0f", ".1f", ",.0f")))


if __name__ == "__main__":
    main()
