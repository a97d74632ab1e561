"""Workshop fleets: many labs run by the one pipeline."""
