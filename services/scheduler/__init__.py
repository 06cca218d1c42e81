"""The scheduler: the control API, the sync configuration, and the cadence loop that queues due runs."""
