"""The standing attack suite (issue 12): bad inputs, hostile configs, corrupted state files and hypothesis
properties against float64 oracles, over every registered metric and every backend."""
