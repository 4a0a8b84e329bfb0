"""The package's version: written into exports and run manifests."""

__all__ = ['__version__']

__version__ = '0.2.0'
