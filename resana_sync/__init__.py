"""resana-sync: merge partner forms dropped on RESANA into the watch cell's shared workbook."""

__version__ = "0.1.0"
