"""Test configuration: one torch thread (fast and deterministic on 2 cores), torchvision shim first."""

import torch

import snnrl._torchvision_compat

snnrl._torchvision_compat.install()  # before anything imports avalanche / torchvision
torch.set_num_threads(1)
