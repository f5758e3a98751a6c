"""BlastScan: offline detection of leukemic blasts in blood-smear images."""

__version__ = "0.1.0"
