from . import test_requests
