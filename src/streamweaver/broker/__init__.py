"""The broker process: supervision, stream discovery and the components it runs."""
