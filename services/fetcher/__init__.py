"""The fetcher service: reads a team's directory from Microsoft Graph and sends it as a snapshot."""
