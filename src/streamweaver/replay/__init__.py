"""Replay: bring archived messages back into Redis streams, as broker jobs."""

from streamweaver.replay.jobs import Job, JobStore
from streamweaver.replay.request import ReplayRejectedError, ReplayRequest
from streamweaver.replay.service import ReplayService

__all__ = ["Job", "JobStore", "ReplayRejectedError", "ReplayRequest", "ReplayService"]
