"""Test configuration: one torch thread (fast and deterministic on 2 cores), torchvision shim first."""

import pytest
import torch

import snnrl._torchvision_compat

snnrl._torchvision_compat.install()  # before anything imports avalanche / torchvision
torch.set_num_threads(1)


def _check_png(path, *, min_width: int = 300, min_height: int = 200) -> "np.ndarray":
    """Decode a PNG report and check it is a real plot: at least ``min_width x min_height`` pixels, not one colour,
    with drawn content (non-background pixels) and some colour (lines/bars, not only black text)."""
    import io

    import matplotlib.image as mpimg
    import numpy as np

    image = mpimg.imread(io.BytesIO(open(path, "rb").read()), format="png")
    height, width = image.shape[:2]
    assert width >= min_width and height >= min_height, f"{path}: {width}x{height} pixels"
    rgb = image[..., :3].reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 16, f"{path}: nearly a single colour"
    ink = (rgb < 0.9).any(1).mean()
    assert 0.01 < ink < 0.9, f"{path}: {ink:.1%} of pixels drawn"
    saturation = rgb.max(1) - rgb.min(1)
    assert (saturation > 0.3).mean() > 0.001, f"{path}: no coloured marks (lines, bars, cells)"
    return image


@pytest.fixture
def check_png():
    """The plot check (:func:`_check_png`) as a fixture."""
    return _check_png


def load_benchmark(name: str):
    """The script ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_actor(seed: int = 0, widths=(3, 16, 16, 2)):
    """A ReLU TeacherActor with random weights (``widths``: observation, hidden..., action), actions in [-1, 1]."""
    import numpy as np
    from torch import nn

    from snnrl.agents.actor import ActorInfo, TeacherActor

    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return TeacherActor(nn.Sequential(*layers), nn.Linear(widths[-2], widths[-1]), action_low=-np.ones(widths[-1]),
                        action_high=np.ones(widths[-1]), info=ActorInfo(algo="TD3", env_id="none"))
