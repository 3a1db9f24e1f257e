from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from inventory.models import Commodity, Station, StockLevel, StockMovement
from tests.helpers import assert_ledger_matches_levels

pytestmark = pytest.mark.django_db


def test_bundled_galaxy_loads_and_reloading_changes_nothing(capsys):
    call_command("seed_stations")
    assert Station.objects.count() >= 12
    assert Commodity.objects.count() == 10
    movements = StockMovement.objects.count()
    levels = {(lvl.station_id, lvl.commodity_id): lvl.on_hand for lvl in StockLevel.objects.all()}
    assert movements > 0

    call_command("seed_stations")

    assert StockMovement.objects.count() == movements
    assert {
        (lvl.station_id, lvl.commodity_id): lvl.on_hand for lvl in StockLevel.objects.all()
    } == levels
    assert "opening stock entries recorded: 0" in capsys.readouterr().out
    assert_ledger_matches_levels()


def test_user_json_upserts_by_code(tmp_path):
    call_command("seed_stations")
    path = tmp_path / "galaxy.json"
    path.write_text(
        json.dumps(
            {
                "stations": [
                    {"code": "ceres-prime", "name": "Ceres Renamed"},
                    {
                        "code": "new-haven",
                        "name": "New Haven",
                        "kind": "outpost",
                        "x": 1,
                        "y": 2,
                        "z": 3,
                    },
                ],
                "stock": [{"station": "new-haven", "commodity": "water", "quantity": 40}],
            }
        )
    )
    call_command("seed_stations", "--file", str(path))
    assert Station.objects.get(code="ceres-prime").name == "Ceres Renamed"
    assert StockLevel.objects.get(station__code="new-haven", commodity__code="water").on_hand == 40


def test_csv_with_commodity_columns(tmp_path):
    call_command("seed_stations")
    path = tmp_path / "stations.csv"
    path.write_text("code,name,kind,x,y,z,water,iron-ore\nrim-1,Rim One,outpost,9,9,9,25,\n")
    call_command("seed_stations", "--file", str(path))
    assert StockLevel.objects.get(station__code="rim-1", commodity__code="water").on_hand == 25
    assert not StockLevel.objects.filter(station__code="rim-1", commodity__code="iron-ore").exists()


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        (
            '{"stations": [{"code": "ok-1", "name": "Ok", "x": 901}, '
            '{"code": "bad one!", "name": "Bad"}]}',
            ".json",
            "stations row 2, field 'code'",
        ),
        (
            '{"stations": [{"code": "ok-1", "name": "Ok", "kind": "moon"}]}',
            ".json",
            "stations row 1, field 'kind'",
        ),
        (
            '{"stations": [{"code": "ok-1", "name": "Ok", "x": "far"}]}',
            ".json",
            "stations row 1, field 'x'",
        ),
        (
            '{"stations": [{"code": "ok-1", "name": "Ok", "x": 901}], '
            '"stock": [{"station": "ok-1", "commodity": "water", "quantity": "lots"}]}',
            ".json",
            "stock row 1, field 'quantity'",
        ),
        (
            '{"stations": [{"code": "ok-1", "name": "Ok", "x": 901}], '
            '"stock": [{"station": "nowhere", "commodity": "water", "quantity": 1}]}',
            ".json",
            "stock row 1, field 'station'",
        ),
        ("code,name,x\nok-1,Ok,901\nok-2,,902\n", ".csv", "stations row 2, field 'name'"),
        (
            '{"stations": [{"code": "ok-1", "name": "Ok", "x": 0.3, "y": -0.2, "z": 0.05}]}',
            ".json",
            "stations row 1, field 'x': ceres-prime is already at (0.3, -0.2, 0.05)",
        ),
        ("{not json", ".json", "not valid JSON"),
    ],
)
def test_a_bad_row_loads_nothing_and_names_row_and_field(tmp_path, content, suffix, expected):
    call_command("seed_stations")
    before = (Station.objects.count(), StockMovement.objects.count())
    path = tmp_path / f"galaxy{suffix}"
    path.write_text(content)
    with pytest.raises(CommandError) as excinfo:
        call_command("seed_stations", "--file", str(path))
    assert expected in str(excinfo.value)
    assert "Nothing was loaded" in str(excinfo.value)
    assert (Station.objects.count(), StockMovement.objects.count()) == before
    assert not Station.objects.filter(code="ok-1").exists()


def test_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="No such file"):
        call_command("seed_stations", "--file", "/nonexistent/galaxy.json")


def test_count_adds_generated_stations_with_opening_stock():
    call_command("seed_stations")
    before = Station.objects.count()
    call_command("seed_stations", "--count", "300", "--seed", "1", "--no-progress")
    call_command("seed_stations", "--count", "5", "--seed", "2")
    assert Station.objects.count() == before + 305
    assert StockLevel.objects.filter(station__code__startswith="gen-").exists()
    assert_ledger_matches_levels()


def test_add_operator_creates_staff_user_and_grants_stations(capsys):
    call_command("seed_stations")
    call_command("add_operator", "ana", "ceres-prime", "sol-mars")
    user = get_user_model().objects.get(username="ana")
    assert user.is_staff and not user.is_superuser
    assert set(user.operated_stations.values_list("code", flat=True)) == {"ceres-prime", "sol-mars"}
    assert "Generated password (shown once)" in capsys.readouterr().out
    assert user.has_perm("trades.add_trade")
    assert not user.has_perm("inventory.act_for_all_stations")

    call_command("add_operator", "ana", "luna-gateway", "--password", "pw-new-12345")
    user.refresh_from_db()
    assert user.operated_stations.count() == 3
    assert user.check_password("pw-new-12345")


def test_add_operator_refuses_unknown_station():
    with pytest.raises(CommandError, match="Unknown station code"):
        call_command("add_operator", "ana", "atlantis")
    assert not get_user_model().objects.filter(username="ana").exists()


def test_first_superuser_gets_a_generated_password_printed_once(capsys, monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("ensure_superuser")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    call_command("ensure_superuser")
    assert password not in capsys.readouterr().out
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_superuser_password_from_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "pw-from-env-123")
    call_command("ensure_superuser")
    assert get_user_model().objects.get(username="admin").check_password("pw-from-env-123")


def test_generating_the_same_count_and_seed_again_changes_nothing():
    call_command("seed_stations")
    call_command("seed_stations", "--count", "3", "--seed", "7")
    first = list(Station.objects.order_by("code").values_list("code", "x", "y", "z"))
    movements = StockMovement.objects.count()

    call_command("seed_stations", "--count", "3", "--seed", "7")

    assert list(Station.objects.order_by("code").values_list("code", "x", "y", "z")) == first
    assert StockMovement.objects.count() == movements
    assert_ledger_matches_levels()


def test_a_larger_count_keeps_the_smaller_ones_stations():
    call_command("seed_stations", "--count", "3", "--seed", "7")
    three = set(Station.objects.values_list("code", "x", "y", "z"))
    call_command("seed_stations", "--count", "5", "--seed", "7")
    assert three < set(Station.objects.values_list("code", "x", "y", "z"))
    assert Station.objects.filter(code__startswith="gen-").count() == 5


def test_no_two_stations_share_a_position():
    call_command("seed_stations")
    for seed in (1, 2, 7):
        call_command("seed_stations", "--count", "50", "--seed", str(seed), "--no-progress")
    positions = list(Station.objects.values_list("x", "y", "z"))
    assert len(positions) == 14 + 150
    assert len(set(positions)) == len(positions)


def test_a_generated_position_already_taken_is_drawn_again():
    call_command("seed_stations", "--count", "1", "--seed", "3")
    taken = Station.objects.get(code="gen-3-00001")
    taken.code = "squatter"
    taken.save()  # the same spot, under another code: gen-3-00001 must go elsewhere
    call_command("seed_stations", "--count", "1", "--seed", "3")
    generated = Station.objects.get(code="gen-3-00001")
    assert (generated.x, generated.y, generated.z) != (taken.x, taken.y, taken.z)
