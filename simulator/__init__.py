"""A simulated Microsoft tenant: Graph v1.0 and the identity platform, served over HTTPS."""

from simulator.generate import generate_tenant
from simulator.server import Simulator
from simulator.tenant import GLOBAL_ADMINISTRATOR, GRAPH_PERMISSIONS, GROUPS_ADMINISTRATOR, Tenant

__all__ = [
    "GLOBAL_ADMINISTRATOR",
    "GRAPH_PERMISSIONS",
    "GROUPS_ADMINISTRATOR",
    "Simulator",
    "Tenant",
    "generate_tenant",
]
