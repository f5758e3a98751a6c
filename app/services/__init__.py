"""Use cases shared by the command line and the desktop app (Qt-free, above `app.core`).

Both fronts call only these for what a technician does: open or create the case of some
images, classify it, adapt to the lab, export.  They hold no state of their own.
"""
