"""Training and optimisation: loss networks, perceptual losses, Gatys optimisation."""
