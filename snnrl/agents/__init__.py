"""snnrl.agents: SB3 teachers and their zoo, ANN-to-SNN conversion with CRPI, policies under SB3's ``predict``
contract, closed-loop evaluation."""
