"""wsnas: reproduce, check and extend 'To Share or Not To Share' (Pourchot et al., 2020)."""

__version__ = "0.1.0"
