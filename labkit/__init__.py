"""labkit: the helper package of the course *Deep Learning for Medical Image Analysis*.

Importing labkit is cheap and changes nothing: only :func:`labkit.setup` touches global state
(seeds, device, plot style). Submodules are imported by name, for example
``from labkit import realdata, plots, checks``.
"""

__all__ = ["setup", "__version__"]

__version__ = "0.1.0"


def setup(seed=0, device=None, verbose=True):
    """Seed every generator, choose the device and set the plot style. See :func:`labkit.config.setup`."""
    from labkit import config

    return config.setup(seed=seed, device=device, verbose=verbose)
