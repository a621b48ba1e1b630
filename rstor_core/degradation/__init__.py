"""What happens to a clean image: blur kernels (drawn from seeds, or the fixed test banks) and noise, as
parameter generators and pure operators (deepinv's split). Imports only ``settings``."""
