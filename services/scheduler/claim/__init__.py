"""The invite claim pages, served by the scheduler's web server at the link an invite email carries."""
