"""snnrl.hardware: hardware cost models that turn operation counts into energy, and reports."""

from snnrl.hardware.digital import DIGITAL_45NM_FP32, DigitalProfile

__all__ = ["DigitalProfile", "DIGITAL_45NM_FP32"]
