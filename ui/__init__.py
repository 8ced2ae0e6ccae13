"""Gradio tab builders for app.py, one module per tab (the only package besides app.py that imports gradio)."""
