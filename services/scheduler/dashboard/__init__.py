"""The dashboard: server-drawn pages for team admins and the operator, served beside the API they call."""
