"""Compiled core of pykarabo (built from the Cython sources in the repository's ``core/``)."""
