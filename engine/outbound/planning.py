"""Planning: which records are sent, and with which payloads.

The one place records are selected (a call's records filtered by the config's
domain, a scheduled sync's search, the preview's sample) and turned into
planned deliveries: record ids, the payload (after the payload script) and the
values of the URL placeholders. Nothing here is secret and nothing is final:
the request itself is finished when it is sent (``engine/outbound/request.py``).
"""
import dataclasses
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from odoo.tools import split_every
from odoo.tools.translate import LazyTranslate

from ...compat import PREFETCH_MAX
from ..shared.payload import Mapping, script_result
from ..shared.sandbox import CompiledScript, ScriptError, eval_domain, script_context
from .remote import RemoteIds
from .request import RequestError, check, url_values

if TYPE_CHECKING:
    from odoo.models import BaseModel

    from .profile import Profile

_lt = LazyTranslate(__name__)


@dataclasses.dataclass
class Planned:
    """One planned delivery: a request to send (``body``), or why nothing is sent (``error``, ``skipped``)."""
    record_ids: list[int]
    body: object = None          # the payload: an object, or a list of objects when paginated
    url_values: dict | None = None  # values of the URL's {placeholders}
    error: object = None
    skipped: object = None


class Planner:
    """Selects and plans the records of one config (a superuser record) under its profile."""

    def __init__(self, config: 'BaseModel', profile: 'Profile') -> None:
        self.config = config
        self.profile = profile
        self._mapping = None

    @property
    def mapping(self) -> Mapping:
        """The compiled mapping, built on first use (MappingError if the mapping is wrong)."""
        if self._mapping is None:
            self._mapping = self.config._compiled_mapping()
        return self._mapping

    # Selecting ---------------------------------------------------------------------------

    def domain(self) -> list:
        return eval_domain(self.config.env, self.profile.domain, self.profile.label)

    def search(self, changed_since=None, limit: int | None = None, after_id: int | None = None) -> 'BaseModel':
        """The records of the domain in id order, Odoo's usual way: archived ones only if the domain
        asks for them; ``after_id``: those after it (a scheduled sync resuming)."""
        domain = self.domain()
        if changed_since:
            domain += [('write_date', '>=', changed_since)]
        if after_id:
            domain += [('id', '>', after_id)]
        Model = self.config.env[self.profile.model].with_context(active_test=True)
        return Model.search(domain, order='id', limit=limit)

    def in_domain(self, records: 'BaseModel') -> 'BaseModel':
        """Those of ``records`` the domain selects; passed explicitly, archived records count."""
        domain = self.domain()
        if not domain or not records:
            return records
        found = set(records.with_context(active_test=False).search([('id', 'in', records.ids)] + domain).ids)
        return records.filtered(lambda record: record.id in found)

    # Planning ----------------------------------------------------------------------------

    def plan(self, records: 'BaseModel', snapshots: dict[int, dict] | None = None, in_domain: bool = False,
             existing: 'BaseModel | None' = None) -> Iterator[Planned]:
        """An iterator of Planned, built page by page as it is consumed, so memory stays flat
        however many records are sent. Records gone from the database are planned from
        ``snapshots``; ``in_domain`` says the records were found with the domain already;
        ``existing``, those of ``records`` the caller already knows to exist.
        What fails for the whole call (the mapping) raises before the first item."""
        label = self.profile.label
        if not self.profile.active:
            return iter([Planned(records.ids, skipped=_lt("%(config)s is archived: nothing sent.", config=label))])
        snapshots = snapshots or {}
        skipped = []
        existing = _existing(records) if existing is None else existing
        gone = (records - existing).ids
        from_snapshots = [record_id for record_id in gone if record_id in snapshots]
        lost = [record_id for record_id in gone if record_id not in snapshots]
        if lost:
            skipped.append(Planned(lost, skipped=_lt("%(count)s record(s) no longer exist.", count=len(lost))))
        selected = existing if in_domain else self.in_domain(existing)
        outside = (existing - selected).ids
        if outside:
            skipped.append(Planned(outside, skipped=_lt(
                "%(count)s record(s) outside the filter domain.", count=len(outside))))
        if not selected and not from_snapshots:
            return iter(skipped)
        mapping = self.mapping
        script = CompiledScript(self.profile.payload_script, f"{label}, payload script") \
            if self.profile.payload_script.strip() else None
        return itertools.chain(
            skipped,
            self._plan_records(selected, mapping, script),
            *(self._plan_page([(record_id, snapshots[record_id]) for record_id in chunk], records, script)
              for chunk in split_every(self.profile.page_size, from_snapshots, list)),
        )

    def snapshot(self, records: 'BaseModel') -> dict[int, dict]:
        """Payloads of the records in the domain as they are now: {id: payload}.

        Kept for records that may be deleted before delivery; a record whose
        payload cannot be built now is left out (its error shows when it is planned).
        """
        if not self.profile.active:
            return {}
        payloads = {}
        selected = self.in_domain(records.exists())
        remote_ids = self._remote_ids(selected.ids)
        for record in selected:
            try:
                payloads[record.id] = self.mapping.build(record, remote_ids.get(record.id))
            except ScriptError:
                continue
        return payloads

    def _remote_ids(self, record_ids):
        """{record id: remote id} for scripts (``remote_id``), one query per page, only for the configs
        that use remote ids."""
        if not self.profile.remote.active:
            return {}
        links = RemoteIds(self.profile, self.config.env).links(record_ids)
        return {record_id: remote_id for record_id, (remote_id, _digest) in links.items()}

    def _plan_records(self, records, mapping, script):
        # Records are read a batch at a time (whole pages, about PREFETCH_MAX records) and
        # dropped from the cache once planned.
        page_size = self.profile.page_size
        for batch_ids in split_every(page_size * max(1, PREFETCH_MAX // page_size), records._ids):
            batch = records.browse(batch_ids)
            for page_ids in split_every(page_size, batch_ids):
                # A page prefetches only itself: read the whole batch at the first access instead.
                page = batch.browse(page_ids).with_prefetch(batch._prefetch_ids)
                remote_ids = self._remote_ids(list(page_ids))
                entries = []
                for record in page:
                    try:
                        entries.append((record.id, mapping.build(record, remote_ids.get(record.id))))
                    except ScriptError as error:
                        yield Planned([record.id], error=str(error))
                yield from self._plan_page(entries, records, script, remote_ids)
            batch.invalidate_recordset()

    def _plan_page(self, entries, records, script, remote_ids=None):
        if not entries:
            return []
        record_ids = [record_id for record_id, _payload in entries]
        payloads = [payload for _record_id, payload in entries]
        try:
            body = payloads if self.profile.paginated else payloads[0]
            if script:
                page = records.browse(record_ids)
                remote_id = (remote_ids or {}).get(record_ids[0]) if len(record_ids) == 1 else None
                value = script.run(script_context(page.env, page, body, remote_id))
                body = body if value is None else script_result(value, script.where)
            values = url_values(self.profile.url, payloads[0])
            check(self.profile, body, values)
            return [Planned(record_ids, body=body, url_values=values)]
        except (ScriptError, RequestError) as error:
            return [Planned(record_ids, error=error.args[0] if isinstance(error, RequestError) else str(error))]


def _existing(records):
    """``records.exists()`` a batch at a time: checked in one query, 100,000 ids took as much
    memory again as the ids themselves (the records keep their order)."""
    return records.browse(itertools.chain.from_iterable(
        batch.exists()._ids for batch in split_every(PREFETCH_MAX, records._ids, records.browse)))
