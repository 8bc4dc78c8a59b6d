"""snnrl.envs: gymnasium wrappers that host spiking policies in the control loop, and pixel observations.

Importing it registers the pixel tasks ``snnrl/<Task>Pixels-v5`` (:mod:`snnrl.envs.pixels`).
"""

from snnrl.envs.pixels import register_pixel_envs as _register_pixel_envs

_register_pixel_envs()
