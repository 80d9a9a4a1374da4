"""minewatch: find cryptocurrency-mining connections in carrier networks."""

__version__ = "0.1.0"
