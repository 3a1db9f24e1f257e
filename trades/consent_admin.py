"""The admin of consent: proposals answered with actions, standing agreements granted and
revoked, all through trades.proposals and trades.agreements (docs/pages.md)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import DomainErrorMessagesMixin, ReplicaListsAdminMixin
from core.errors import DomainError
from core.text import quantity_text
from credits.disclosure import as_told_to
from inventory.access import stations_for
from inventory.admin_scoping import StationScopedAdminMixin
from inventory.models import Commodity, Station

from .agreements import agreement_grant, agreement_revoke
from .models import Agreement, Proposal
from .proposals import proposal_accept, proposal_decline, proposal_withdraw


def goods_of(proposal: Proposal) -> str:
    """A proposal's lines in words: "12 t Water at 3.00; 1 crate Spare parts at 9.50"."""
    known = Commodity.objects.in_bulk(
        [item["commodity"] for item in proposal.items], field_name="code"
    )
    lines = []
    for item in proposal.items:
        commodity = known.get(item["commodity"])
        unit = getattr(commodity, "unit", "")
        name = getattr(commodity, "name", item["commodity"])
        lines.append(f"{quantity_text(int(item['quantity']), unit)} {name} at {item['unit_price']}")
    return "; ".join(lines)


class ProposalStateFilter(admin.SimpleListFilter):
    """Open means answerable: an open proposal past its expiry is expired, swept or not."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return Proposal.Status.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == Proposal.Status.OPEN:
            return queryset.filter(status=Proposal.Status.OPEN, expires_at__gt=now)
        if self.value() == Proposal.Status.EXPIRED:
            return queryset.filter(
                status__in=[Proposal.Status.OPEN, Proposal.Status.EXPIRED]
            ).exclude(status=Proposal.Status.OPEN, expires_at__gt=now)
        if self.value():
            return queryset.filter(status=self.value())
        return queryset


@admin.register(Proposal)
class ProposalAdmin(
    ReplicaListsAdminMixin, DomainErrorMessagesMixin, StationScopedAdminMixin, admin.ModelAdmin
):
    """Proposals of the user's stations, answered with the actions (the services decide who may:
    the answering side's operators accept or decline, the proposing side's withdraw). Made
    through the API or the station page's answers; never edited here."""

    station_lookups = ("seller", "buyer")
    list_display = (
        "proposal_id",
        "seller",
        "buyer",
        "proposed_by_side",
        "state",
        "total",
        "terms",
        "expires_at",
        "trade_link",
        "created_at",
    )
    list_filter = (ProposalStateFilter, "proposed_by_side", "terms", "created_at")
    search_fields = ("proposal_id", "seller__code", "buyer__code", "trade__transaction_id")
    list_select_related = ("seller", "buyer", "trade", "proposed_by")
    date_hierarchy = "created_at"
    actions = ("accept", "decline", "withdraw")
    fields = (
        "proposal_id",
        "seller",
        "buyer",
        "proposed_by_side",
        "state",
        "terms",
        "goods",
        "total",
        "note",
        "proposed_by",
        "expires_at",
        "answered_by",
        "answered_at",
        "trade_link",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # proposed through the API (POST /api/proposals/)

    def has_change_permission(self, request, obj=None):
        return False  # answered by the actions, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status", ordering="status")
    def state(self, proposal):
        return Proposal.Status(proposal.current_status()).label

    @admin.display(description="goods")
    def goods(self, proposal):
        return goods_of(proposal)

    @admin.display(description="trade", ordering="trade__transaction_id")
    def trade_link(self, proposal):
        if proposal.trade_id is None:
            return "-"
        url = reverse("admin:trades_trade_change", args=[proposal.trade_id])
        return format_html('<a href="{}">{}</a>', url, proposal.trade.transaction_id)

    def _answer(self, request, queryset, service, done: str):
        answered = []
        for proposal in queryset.select_related("seller", "buyer"):
            try:
                result = service(proposal=proposal, actor=request.user)
            except DomainError as exc:
                told = as_told_to(request.user, exc)  # the buyer's figures for its own only
                self.message_user(request, f"{proposal.proposal_id}: {told}", messages.ERROR)
            except ValidationError as exc:
                text = " ".join(exc.messages)
                self.message_user(request, f"{proposal.proposal_id}: {text}", messages.ERROR)
            else:
                placed = f" (trade {result.trade.transaction_id})" if result.trade_id else ""
                answered.append(f"{result.proposal_id}{placed}")
        if answered:
            self.message_user(request, f"{done}: {', '.join(answered)}.", messages.SUCCESS)

    @admin.action(description="Accept the selected proposals (places their trades)")
    def accept(self, request, queryset):
        self._answer(request, queryset, proposal_accept, "Accepted")

    @admin.action(description="Decline the selected proposals")
    def decline(self, request, queryset):
        self._answer(request, queryset, proposal_decline, "Declined")

    @admin.action(description="Withdraw the selected proposals (your own)")
    def withdraw(self, request, queryset):
        self._answer(request, queryset, proposal_withdraw, "Withdrawn")


class AgreementForm(forms.ModelForm):
    """Granting: the limits the service takes, checked here first so mistakes show on the form
    (trades.agreements.agreement_grant checks them again)."""

    class Meta:
        model = Agreement
        fields = (
            "buyer",
            "seller",
            "commodities",
            "max_unit_price",
            "max_trade_total",
            "max_outstanding",
            "allow_buyer_risk",
            "expires_at",
        )

    def clean(self):
        data = super().clean()
        seller, buyer = data.get("seller"), data.get("buyer")
        if seller is not None and buyer is not None and seller.pk == buyer.pk:
            self.add_error("seller", "A station needs no agreement with itself.")
        if data.get("expires_at") is not None and data["expires_at"] <= timezone.now():
            self.add_error("expires_at", "An agreement must expire in the future.")
        total, cap = data.get("max_trade_total"), data.get("max_outstanding")
        if total is not None and cap is not None and total > cap:
            self.add_error("max_trade_total", "May not be more than max outstanding.")
        return data


@admin.register(Agreement)
class AgreementAdmin(
    ReplicaListsAdminMixin, DomainErrorMessagesMixin, StationScopedAdminMixin, admin.ModelAdmin
):
    """Agreements a station of the user granted (as buyer) or holds (as seller). Granted here
    by the buyer's operators through agreement_grant and ended by the "Revoke" action; a
    granted agreement is never edited (revoke it and grant a new one)."""

    station_lookups = ("buyer", "seller")
    form = AgreementForm
    list_display = (
        "agreement_id",
        "buyer",
        "seller",
        "state",
        "max_unit_price",
        "max_trade_total",
        "max_outstanding",
        "outstanding",
        "uses",
        "expires_at",
        "granted_by",
        "created_at",
    )
    list_filter = ("allow_buyer_risk", "created_at")
    search_fields = ("agreement_id", "buyer__code", "seller__code")
    list_select_related = ("buyer", "seller", "granted_by")
    date_hierarchy = "created_at"
    filter_horizontal = ("commodities",)
    actions = ("revoke",)
    readonly_fields = (
        "agreement_id",
        "state",
        "outstanding",
        "uses",
        "granted_by",
        "revoked_at",
        "revoked_by",
        "created_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(use_count=Count("trades", distinct=True))

    def get_fields(self, request, obj=None):
        if obj is None:
            return AgreementForm.Meta.fields
        return (
            "agreement_id",
            "buyer",
            "seller",
            "state",
            "covered",
            "max_unit_price",
            "max_trade_total",
            "max_outstanding",
            "outstanding",
            "uses",
            "allow_buyer_risk",
            "expires_at",
            "granted_by",
            "created_at",
            "revoked_at",
            "revoked_by",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "buyer":
            # A station grants only by its own operators' say (or dispatch staff's).
            kwargs["queryset"] = stations_for(request.user)
        elif db_field.name == "seller":
            kwargs["queryset"] = Station.objects.all()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False  # revoke and grant anew

    def has_delete_permission(self, request, obj=None):
        return False  # trades and the ledger refer to it

    @admin.display(description="status")
    def state(self, agreement):
        if agreement.revoked_at is not None:
            return "Revoked"
        return "Active" if agreement.is_active() else "Expired"

    @admin.display(description="commodities")
    def covered(self, agreement):
        names = [c.name for c in agreement.commodities.order_by("name")]
        return ", ".join(names) if names else "Every commodity"

    @admin.display(description="uses", ordering="use_count")
    def uses(self, agreement):
        count = getattr(agreement, "use_count", None)
        if count is None:
            count = agreement.trades.count()
        url = reverse("admin:trades_trade_changelist")
        return format_html(
            '<a href="{}?agreement={}">{} trade{}</a>',
            url,
            agreement.agreement_id,
            count,
            "" if count == 1 else "s",
        )

    def save_model(self, request, obj, form, change):
        if change:
            raise DomainError("A granted agreement is not edited: revoke it and grant a new one.")
        data = form.cleaned_data
        try:
            granted = agreement_grant(
                buyer=data["buyer"],
                seller=data["seller"],
                max_unit_price=data["max_unit_price"],
                max_trade_total=data["max_trade_total"],
                max_outstanding=data["max_outstanding"],
                commodities=data.get("commodities") or (),
                allow_buyer_risk=data.get("allow_buyer_risk", False),
                expires_at=data.get("expires_at"),
                actor=request.user,
            )
        except ValidationError as exc:  # checked by the form already; a race at most
            raise DomainError(" ".join(exc.messages)) from exc
        # The admin goes on with `obj` (its message, its redirect): make it the granted one.
        obj.pk, obj.agreement_id, obj.granted_by = granted.pk, granted.agreement_id, request.user
        obj.created_at = granted.created_at
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass  # agreement_grant set the commodities with the agreement

    @admin.action(description="Revoke the selected agreements")
    def revoke(self, request, queryset):
        revoked = []
        for agreement in queryset:
            try:
                agreement_revoke(agreement=agreement, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{agreement.agreement_id}: {exc}", messages.ERROR)
            else:
                revoked.append(agreement.agreement_id)
        if revoked:
            self.message_user(request, f"Revoked: {', '.join(revoked)}.", messages.SUCCESS)
