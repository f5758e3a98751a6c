"""Qt-free engine of BlastScan: loading, cell finding, classification, case store, report."""
