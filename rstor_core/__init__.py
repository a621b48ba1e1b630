"""rstor_core: dead leaves, degradations, NAFNet and the runner of the rstor book."""

__version__ = "0.1.0"
