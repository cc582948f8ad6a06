"""Reusable Pulumi components of the staging platform."""
