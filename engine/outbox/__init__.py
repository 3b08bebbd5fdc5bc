"""The queue above the outbound front door: change capture, dispatcher, endpoint health, cron budget."""
