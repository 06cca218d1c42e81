"""Common code of the CardSync services: settings, messages, bus, database, Graph client."""
