"""Microsoft Graph: tokens (msal), the throttling-aware client, batching and group search."""
