"""Loaders: one module per input format, each turning files into the plain data of ``model``."""
