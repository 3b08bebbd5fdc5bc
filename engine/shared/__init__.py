"""What both directions share: payloads and the sandbox, auth, signing, TLS, transport, log rows, cron wake-up."""
