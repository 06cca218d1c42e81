"""The notifier: invites and admin digests over SMTP, each email sent once, and the card claim pages."""
