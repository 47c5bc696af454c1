"""Foley appliance: synchronized sound effects for short videos, offline on an ARM board."""

__version__ = "0.1.0"
