"""Command-line entry points: ``assistant`` (analysts) and ``assistant-admin`` (admins, IT).

Never imports Qt.
"""
