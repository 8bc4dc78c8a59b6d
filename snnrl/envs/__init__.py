"""snnrl.envs: gymnasium wrappers that host spiking policies in the control loop."""
