"""snnrl.agents"""
