"""The shared tracking workbook: its layout, snapshot and plan model, and the openpyxl I/O."""

from .book import SharedWorkbook
from .model import Plan, WorkbookSnapshot

__all__ = ["Plan", "SharedWorkbook", "WorkbookSnapshot"]
