"""The inbound path: the front door (``front_door.serve``), the mapping read in reverse, the OpenAPI document."""
