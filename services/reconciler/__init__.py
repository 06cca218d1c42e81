"""The reconciler: turns a staged directory snapshot and a team's members into a plan, and applies it."""
