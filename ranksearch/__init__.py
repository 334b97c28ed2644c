"""ranksearch: search how much rank each layer of a CNN really needs."""

__version__ = "0.1.0"
