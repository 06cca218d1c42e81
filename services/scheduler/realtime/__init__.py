"""Near-real-time sync: Graph change-notification subscriptions kept per team, and the runs they ask for."""
