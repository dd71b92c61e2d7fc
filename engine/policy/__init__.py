"""Yearly policy parameters: versioned, effective-dated parameter sets per procedure."""
