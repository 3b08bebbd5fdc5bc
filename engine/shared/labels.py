"""How a config and its mapping lines are named in messages and log rows: one wording everywhere."""


def config_label(name: str) -> str:
    """'BJ API config "Customers to CRM"'."""
    return f'BJ API config "{name}"'


def line_label(config_name: str, api_key: str) -> str:
    """'BJ API config "Customers to CRM", mapping line "email"'."""
    return f'{config_label(config_name)}, mapping line "{api_key}"'
