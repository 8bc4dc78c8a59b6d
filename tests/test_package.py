import pkgutil
import subprocess
import sys

import snnrl


def _core_modules() -> list[str]:
    return sorted(f"snnrl.{m.name}" for m in pkgutil.iter_modules(snnrl.__path__) if not m.ispkg)


def test_core_does_not_import_the_sides():
    modules = _core_modules() + ["snnrl.hardware"]
    assert "snnrl.neurons" in modules and "snnrl.opcount" in modules
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "heavy = [m for m in ('stable_baselines3', 'avalanche', 'gymnasium', 'torchvision') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_subpackages_import():
    import snnrl.agents
    import snnrl.continual
    import snnrl.envs
    import snnrl.hardware  # noqa: F401


def test_cli_core_demo_runs():
    result = subprocess.run([sys.executable, "-m", "snnrl.cli", "demo", "--core"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "energy per sample" in result.stdout and "SNN" in result.stdout


def test_avalanche_imports_with_the_torchvision_shim():
    code = "import snnrl.continual, avalanche.training.templates; print('ok')"
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
