"""snnrl.envs"""
