"""coverage-audit: what would this change break, and do I have an alert for that?"""

__version__ = "0.1.0"
