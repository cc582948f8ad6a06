"""Command-line helpers the Makefile runs: render, scan, validate."""
