"""The outbound path: the front door (``front_door.Outbound``) plans, finishes, sends and decides; the job store
(``jobs``) keeps queued deliveries."""
