"""Media Enhancer core: probing, analysis, enhancement plans and rendering.

The core never prints and never exits; settings are passed in (see ``settings.py``),
and every failure is one of the classes in ``errors.py``. Heavy dependencies are
imported lazily inside the functions that need them.
"""

__version__ = "0.1.0"
