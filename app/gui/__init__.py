"""The desktop app (PySide6): windows, item models and workers over `app.core`.

Nothing here runs SQL or imports tensorflow: the case store answers every question and the
core pipeline does every computation; this package only shows and asks.
"""
