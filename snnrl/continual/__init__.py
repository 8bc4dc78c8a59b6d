"""snnrl.continual: class-incremental learning with spiking backbones on Avalanche.

Importing this package installs the torchvision shim (see :mod:`snnrl._torchvision_compat`) so that
Avalanche imports with the CPU build of torch.
"""

from snnrl._torchvision_compat import install as _install_torchvision_shim

_install_torchvision_shim()
