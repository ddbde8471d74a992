"""Candle data: the frame contract (``schema``), loading (``sources``) and core (``core_client``).

Import from the submodules, e.g. ``from mlpkg.data.sources import load_candles``; this package
imports nothing itself so that importing the pure ``schema`` stays light.
"""
