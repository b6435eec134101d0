"""Progressive delivery: rollouts that move traffic to a candidate version on evidence."""
