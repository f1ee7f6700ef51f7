"""Sharing the work among several broker instances: membership, leases, assignment."""
