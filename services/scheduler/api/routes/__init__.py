"""Every endpoint of the control API, one module per resource."""

from services.scheduler.api.endpoint import Endpoint
from services.scheduler.api.routes import (
    audit,
    config,
    consent,
    directory,
    members,
    merges,
    run_days,
    runs,
    signin,
    teams,
    templates,
    tokens,
    webhooks,
)

ENDPOINTS: tuple[Endpoint, ...] = (
    *signin.ENDPOINTS,
    *teams.ENDPOINTS,
    *tokens.ENDPOINTS,
    *directory.ENDPOINTS,
    *consent.ENDPOINTS,
    *config.ENDPOINTS,
    *runs.ENDPOINTS,
    *merges.ENDPOINTS,
    *run_days.ENDPOINTS,
    *members.ENDPOINTS,
    *templates.ENDPOINTS,
    *audit.ENDPOINTS,
    *webhooks.ENDPOINTS,
)
