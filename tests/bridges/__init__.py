"""Tests through network serial bridges, as owners reach a meter over their network."""
