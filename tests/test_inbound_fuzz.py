"""The inbound contract, checked by a fuzzer: schemathesis (pinned in scripts/fuzz-requirements.txt, installed
by scripts/test) generates requests from the OpenAPI document of the demo ``contacts`` endpoint (text, a
boolean, whole and decimal numbers, a selection, a nested key, a many-to-one by its sub-mapping's identifier,
read-only keys; every method and the batch) and runs all its checks against the test server over real HTTP:
status codes, content types, headers and bodies as documented, valid requests taken, invalid ones refused,
created records reachable through the document's links, deleted ones gone. Any failure fails the test, and
so does an ERROR line in the server log. The seed and the number of examples are fixed: a run is repeatable.
"""
import contextlib
import json
import logging
import os
import pathlib
import subprocess
import tempfile

from odoo.tests import HttpCase, tagged

from ..engine.inbound import openapi
from ..engine.inbound.front_door import API_PREFIX

SEED = 20261207
EXAMPLES = 25           # per operation and phase
TIMEOUT = 600           # seconds for the whole run; it takes about a minute
LOGIN, PASSWORD = 'crm', 'secret'  # the demo endpoint's Basic credentials
_logger = logging.getLogger(__name__)
# A schema-valid POST may be refused 422 when its Idempotency-Key was used with another body, which
# the fuzzer cannot know: the document lists 422 for that.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundFuzz(HttpCase):

    def test_schemathesis_finds_nothing_wrong(self):
        schemathesis = os.environ.get('BJ_SCHEMATHESIS')
        if not schemathesis or not os.path.exists(schemathesis):
            self.skipTest("scripts/test installs schemathesis and names it in BJ_SCHEMATHESIS")
        config = self.env.ref('bj_api_sync.demo_config_contacts_endpoint', raise_if_not_found=False)
        if not config:
            self.skipTest("the demo endpoint is demo data")
        (config | self.env.ref('bj_api_sync.demo_config_industries')).active = True
        with tempfile.TemporaryDirectory() as folder:
            folder = pathlib.Path(folder)
            (folder / 'openapi.json').write_text(json.dumps(openapi.document(config, self.base_url())))
            (folder / 'schemathesis.toml').write_text(CONFIG)
            command = [schemathesis, '--config-file', str(folder / 'schemathesis.toml'), 'run',
                       str(folder / 'openapi.json'), '--url', f"{self.base_url()}{API_PREFIX}",
                       '--checks', 'all', '--auth', f'{LOGIN}:{PASSWORD}', '--seed', str(SEED),
                       '--max-examples', str(EXAMPLES), '--generation-database', 'none', '--no-color',
                       '--request-timeout', '60']
            self.env.flush_all()
            # 19.0's test server answers only the requests it is told to.
            allowed = self.allow_requests(all_requests=True) if hasattr(self, 'allow_requests') \
                else contextlib.nullcontext()
            with allowed, self.assertNoLogs(level='ERROR'):
                run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=folder,
                                     check=False)
        output = run.stdout + run.stderr
        _logger.info("schemathesis: %s", ' '.join(line.strip() for line in output.splitlines()[-6:] if line.strip()))
        self.assertEqual(run.returncode, 0, f"schemathesis found failures:\n{output[-20000:]}")
        self.assertIn('No issues found', output)
