"""Reporters render what the analysis decided; they never compute or read files.

Each format is one module with a ``render_<report>(report) -> str`` function per kind of report
it can show (``render_inventory``, ``render_check``, ...).
"""
