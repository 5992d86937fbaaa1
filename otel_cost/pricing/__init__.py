"""Rate cards, model resolution and the cost engine."""
