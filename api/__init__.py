"""HTTP API (FastAPI): block lists, verification lists, hits, cases, metrics — issue 5.

Nothing is served yet; the package exists so the layout is the one the product card names.
"""
