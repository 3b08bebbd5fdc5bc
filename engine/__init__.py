"""The engine behind the thin models: plain Python over the ORM (docs/architecture.md).

Four rooms, each importing only from those below it:

* ``outbox``: the queue's work above the front door: the change capture, the dispatcher, endpoint
  health and the cron budget;
* ``outbound``: the outbound front door (``Outbound``) and its steps: profile, planning, the request,
  the outcome, remote ids, and the job store the front door writes to;
* ``inbound``: the inbound front door (``serve``), the mapping read in reverse, the OpenAPI document;
* ``shared``: what both directions use: payloads, the sandbox, auth, signing, TLS, transport, the
  log book and the cron wake-up.
"""
