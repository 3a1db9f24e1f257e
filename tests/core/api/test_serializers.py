"""Serializers whose fields are copied shallowly from the declared ones (core.api.serializers
.CopiedFields): each instance has its own fields, bound to it, and validates as DRF's deep
copies did, from many threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from rest_framework import serializers

from core.api.serializers import CopiedFields, JSONIntegerField, StrictInputSerializer


class Line(StrictInputSerializer):
    code = serializers.SlugField(max_length=8)
    quantity = JSONIntegerField(min_value=1, max_value=10)


class Order(StrictInputSerializer):
    station = serializers.SlugField(max_length=8)
    lines = Line(many=True, allow_empty=False)
    tags = serializers.ListField(child=serializers.ChoiceField(choices=["a", "b"]), default=list)
    price = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0"))


class Summary(CopiedFields, serializers.Serializer):
    station = serializers.CharField()
    total = serializers.SerializerMethodField()

    def get_total(self, obj) -> int:
        return obj["n"] * self.context.get("factor", 1)


def test_each_instance_has_its_own_fields_bound_to_it():
    first, second = Order(data={}), Order(data={})
    for name in ("station", "lines", "tags", "price"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    assert first.fields["lines"].child is not second.fields["lines"].child
    assert first.fields["lines"].child.parent is first.fields["lines"]
    assert first.fields["tags"].child.parent is first.fields["tags"]
    # The declared fields themselves stay as made: never bound.
    assert Order._declared_fields["station"].parent is None
    assert Order._declared_fields["station"].source is None


def test_validation_is_drf_s_own_refusals_included():
    good = Order(data={"station": "ceres", "lines": [{"code": "ice", "quantity": 3}],
                       "price": "1.50"})  # fmt: skip
    assert good.is_valid(), good.errors
    assert good.validated_data == {
        "station": "ceres",
        "lines": [{"code": "ice", "quantity": 3}],
        "tags": [],
        "price": Decimal("1.50"),
    }
    bad = Order(data={"station": "x" * 9, "lines": [{"code": "ice", "quantity": 11}],
                      "tags": ["c"], "price": "-1", "extra": 1})  # fmt: skip
    assert not bad.is_valid()
    assert set(bad.errors) == {"extra"}  # unknown fields refused before anything else
    bad = Order(data={"station": "x" * 9, "lines": [{"code": "ice", "quantity": 11}],
                      "tags": ["c"], "price": "-1"})  # fmt: skip
    assert not bad.is_valid()
    assert set(bad.errors) == {"station", "lines", "tags", "price"}
    assert "quantity" in bad.errors["lines"][0]


def test_an_answer_uses_its_own_context():
    assert Summary({"station": "a", "n": 2}, context={"factor": 10}).data["total"] == 20
    assert Summary({"station": "a", "n": 2}).data["total"] == 2


def test_many_threads_validating_at_once_each_get_their_own_result():
    def validate(n: int) -> tuple[int, object]:
        quantity = n % 12  # 0 and 11 are refused
        line = {"code": "ice", "quantity": quantity}
        order = Order(data={"station": f"s{n % 100}", "lines": [line], "price": str(n % 50)})
        if order.is_valid():
            return n, order.validated_data["lines"][0]["quantity"]
        return n, sorted(order.errors)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(validate, range(2000)))
    for n, result in results:
        assert result == (["lines"] if n % 12 in (0, 11) else n % 12), (n, result)
