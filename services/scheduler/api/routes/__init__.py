"""Every endpoint of the control API, one module per resource."""

from services.scheduler.api.endpoint import Endpoint
from services.scheduler.api.routes import config, consent, directory, members, runs, teams, templates

ENDPOINTS: tuple[Endpoint, ...] = (
    *teams.ENDPOINTS,
    *directory.ENDPOINTS,
    *consent.ENDPOINTS,
    *config.ENDPOINTS,
    *runs.ENDPOINTS,
    *members.ENDPOINTS,
    *templates.ENDPOINTS,
)
