"""The process's directory of stations and commodities by code (inventory.directory)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory import directory
from inventory.models import Commodity, Station
from tests.factories import CommodityFactory, StationFactory

pytestmark = pytest.mark.django_db(transaction=True)  # reads outside any transaction


@pytest.fixture(autouse=True)
def fresh_directory():
    directory.stations.forget()
    directory.commodities.forget()


def queries_for(call) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as queries:
        result = call()
    return result, len(queries)


def test_the_directory_is_read_whole_once_and_served_as_instances_of_their_own():
    ceres = StationFactory(code="ceres-prime")
    StationFactory(code="vesta-yards")
    first, asked = queries_for(lambda: directory.stations.by_code(["ceres-prime", "atlantis"]))
    assert (set(first), asked) == ({"ceres-prime"}, 2)  # the directory, then the unknown code
    other, asked = queries_for(lambda: directory.stations.by_code(["vesta-yards"]))
    assert (set(other), asked) == ({"vesta-yards"}, 0)  # read with the rest
    again, asked = queries_for(lambda: directory.stations.by_code(["ceres-prime"]))
    assert asked == 0
    assert again["ceres-prime"] == ceres and again["ceres-prime"] is not first["ceres-prime"]
    assert again["ceres-prime"].name == ceres.name
    _, asked = queries_for(lambda: directory.stations.by_code(["atlantis"]))
    assert asked == 1  # an unknown code is looked up every time


def test_a_change_saved_in_this_process_is_seen_at_once():
    water = CommodityFactory(code="water")
    directory.commodities.by_code(["water"])
    water.code = "fresh-water"
    water.save()
    assert set(directory.commodities.by_code(["water", "fresh-water"])) == {"fresh-water"}
    Commodity.objects.get(code="fresh-water").delete()
    assert directory.commodities.by_code(["fresh-water"]) == {}


def test_another_process_s_rename_is_seen_within_the_configured_seconds(settings):
    StationFactory(code="vesta-yards")
    directory.stations.by_code(["vesta-yards"])
    Station.objects.filter(code="vesta-yards").update(code="vesta-docks")  # as elsewhere: no signal
    assert set(directory.stations.by_code(["vesta-yards"])) == {"vesta-yards"}  # still kept
    settings.TRADENET_DIRECTORY_SECONDS = 0
    assert directory.stations.by_code(["vesta-yards"]) == {}
    assert set(directory.stations.by_code(["vesta-docks"])) == {"vesta-docks"}


def test_what_a_transaction_read_is_not_kept_as_it_may_be_rolled_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        StationFactory(code="titan")
        assert set(directory.stations.by_code(["titan"])) == {"titan"}
        raise RuntimeError("rolled back")
    assert directory.stations.by_code(["titan"]) == {}
