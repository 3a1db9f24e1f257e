"""django-eventstream's model storage, with a one-round-trip append.

Upstream appends an event in about five queries (counter get-or-create, a row lock, the insert,
the counter update, a trim of old events). Publishing happens right after a trade commits, on
the request's time, so here it is one statement: the counter upsert and the insert in one CTE.
Ids stay gapless and in commit order, because the counter row is locked until the statement
commits. Old events are trimmed every few hundred appends rather than on every one.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django_eventstream import models, storage
from django_eventstream.event import Event

TRIM_EVERY = 500

APPEND = """
WITH counter AS (
    INSERT INTO django_eventstream_eventcounter (name, value, updated)
    VALUES (%(channel)s, 1, now())
    ON CONFLICT (name) DO UPDATE
        SET value = django_eventstream_eventcounter.value + 1, updated = now()
    RETURNING value
)
INSERT INTO django_eventstream_event (channel, type, data, eid, created)
SELECT %(channel)s, %(type)s, %(data)s, value, now() FROM counter
RETURNING eid
"""


ZERO_EVENT = """
INSERT INTO django_eventstream_event (channel, type, data, eid, created)
VALUES (%(channel)s, '', '', 0, now())
ON CONFLICT (channel, eid) DO NOTHING
"""


class FastModelStorage(storage.DjangoModelStorage):
    _appends = 0
    _lock = threading.Lock()

    def append_event(self, channel, event_type, data):
        encoded = json.dumps(data, cls=DjangoJSONEncoder)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(APPEND, {"channel": channel, "type": event_type, "data": encoded})
            eid = cursor.fetchone()[0]
            if eid == 1:
                # Upstream keeps an event 0 so that a client resuming from 0 can be answered.
                cursor.execute(ZERO_EVENT, {"channel": channel})
        if self._count_append():
            self.trim_event_log()
        return Event(channel, event_type, data, id=eid)

    @classmethod
    def _count_append(cls) -> bool:
        with cls._lock:
            cls._appends += 1
            return cls._appends % TRIM_EVERY == 1

    def trim_event_log(self):
        cutoff = timezone.now() - timedelta(minutes=storage.EVENT_TIMEOUT)
        models.Event.objects.filter(created__lt=cutoff).delete()
