"""numba's CUDA module, imported so that it compiles on a current numpy.

numba-cuda (0.30.4, the newest on the package index in Dec 2026, the CUDA target numba 0.68 hands over to)
registers an overload of ``numpy.row_stack`` when its numpy support loads, and numpy 2.5 removed that alias
of ``numpy.vstack``: on numpy 2.5 no numba-CUDA kernel compiles (``AttributeError: module 'numpy' has no
attribute 'row_stack'``, seen on an H200 in Dec 2026). :func:`numba_cuda` puts the alias back before numba's
CUDA module is imported; every CUDA import of the package goes through it (``check-gpu`` tells whether the
stack compiles: :mod:`rstor_core.networks.gpu_check`). Drop it once numba-cuda stops registering the name.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

__all__ = ["numba_cuda"]


def numba_cuda() -> ModuleType:
    """``numba.cuda``, importable and compiling on numpy 2.5 (see the module docstring)."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack  # the alias numpy < 2.5 had; numba-cuda <= 0.30.4 overloads it by that name
    from numba import cuda

    return cuda
