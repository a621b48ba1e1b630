"""Where the images come from: dead leaves (sampled, then painted by numba kernels on the CPU or CUDA),
natural photos (bundled, folders, public sets) and the colour samplers that draw from them; their spectra
and rendering speed. Imports only ``settings``."""
