"""Make ``import torchvision`` work with the CPU build of torch (needed by Avalanche).

The torchvision 0.28.0 wheel on PyPI ships compiled operators built against the CUDA torch; with the CPU torch
they do not load, and torchvision's import then fails with ``RuntimeError: operator torchvision::nms does not
exist`` because it registers fake (meta) kernels for ``nms`` / ``qnms`` unconditionally. Defining those two
operator schemas (no kernels) before torchvision is imported lets the import succeed. Avalanche only uses
torchvision's data sets and transforms, never the detection operators; calling ``torchvision.ops.nms`` still
raises torch's "no kernel" error, which is honest.

:func:`install` must run before anything imports torchvision; ``snnrl.continual`` calls it on import, and the
test suite's ``conftest.py`` too. It is a no-op when torchvision's own operators load.
"""

from __future__ import annotations

import importlib.util
import sys

import torch

__all__ = ["install"]

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library: torch.library.Library | None = None


def _native_ops_load() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # torchvision absent: nothing to fix
    import glob
    import os

    for location in spec.submodule_search_locations:
        for lib in glob.glob(os.path.join(location, "_C*.so")):
            try:
                torch.ops.load_library(lib)
                return True
            except OSError:
                return False
    return False


def install() -> None:
    """Define the missing ``torchvision::nms`` / ``qnms`` schemas if torchvision's operators cannot load."""
    global _library
    if _library is not None or "torchvision" in sys.modules or _native_ops_load():
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS.values():
        try:
            lib.define(schema)
        except RuntimeError:
            pass  # already defined (e.g. by another copy of this shim)
    _library = lib
