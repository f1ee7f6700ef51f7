"""The ``streamweaver`` command-line interface."""
