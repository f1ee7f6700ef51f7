"""Replay: bring archived messages back into Redis streams, as broker jobs.

The service (``replay.service.ReplayService``) accepts, lists and cancels
jobs; ``replay.component.install_replay`` runs them in the broker. Nothing is
imported here, so the client can use the light modules (``request``,
``jobs``) without loading the archive reader.
"""
