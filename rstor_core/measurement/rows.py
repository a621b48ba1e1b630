"""The evaluation rows' schema, in a leaf module so that the analyses import two names, not torch.

:func:`rstor_core.networks.evaluate.evaluate` writes one row per (model, run, test set, image,
degradation, size); the degraded input is a model of its own named :data:`INPUT`, so every gain is a
paired difference between two rows of one table.
"""

INPUT = "input"  # the model name of the degraded input's rows
METRICS = ("psnr", "ssim", "lpips", "st_lpips")  # the metric columns; LPIPS is NaN without AlexNet's weights
