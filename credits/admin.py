"""Accounts and entries in the admin: read by a station's operators, moved by dispatch staff
through the services (deposits, withdrawals and credit limits on the account's form)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin

from core.admin import DomainErrorMessagesMixin, ReadOnlyAdminMixin
from core.limits import max_length, size_of
from inventory.access import acts_for_all_stations
from inventory.admin_scoping import StationScopedAdminMixin

from .models import Account, Entry
from .services import CENT, MAX_AMOUNT, credits_deposit, credits_set_limit, credits_withdraw


def amount(label: str, minimum=CENT, **kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        min_value=minimum,
        max_value=MAX_AMOUNT,
        **size_of(MAX_AMOUNT),
        **kwargs,
    )


class AccountForm(forms.ModelForm):
    deposit = amount("Deposit from the treasury", required=False)
    withdrawal = amount("Withdraw to the treasury", required=False)
    memo = forms.CharField(
        max_length=max_length(Entry, "memo"), required=False, help_text="Kept on the entries."
    )

    class Meta:
        model = Account
        fields = ("credit_limit",)

    def clean(self):
        data = super().clean()
        if data.get("deposit") and data.get("withdrawal"):
            raise forms.ValidationError("Deposit or withdraw, not both at once.")
        return data


@admin.register(Account)
class AccountAdmin(DomainErrorMessagesMixin, StationScopedAdminMixin, admin.ModelAdmin):
    station_lookups = ("station",)
    form = AccountForm
    list_display = ("__str__", "balance", "held", "incoming", "available", "credit_limit")
    list_select_related = ("station",)
    search_fields = ("station__code", "station__name")
    ordering = ("-is_treasury", "station__code")
    readonly_fields = ("station", "balance", "held", "incoming", "available", "updated_at")

    @admin.display(description="available")
    def available(self, account) -> Decimal:
        return account.available

    def has_add_permission(self, request):
        return False  # every station has one; the treasury is made by the migration

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Credits move by dispatch staff only; a station's operators read its account.
        if obj is not None and obj.is_treasury:
            return False
        return acts_for_all_stations(request.user) and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """Through the services, never a plain save: each change is an entry and an event."""
        data = form.cleaned_data
        station, memo = obj.station, data.get("memo", "")
        if "credit_limit" in form.changed_data:
            credits_set_limit(
                station=station, credit_limit=data["credit_limit"], actor=request.user
            )
        if data.get("deposit"):
            credits_deposit(station=station, amount=data["deposit"], memo=memo, actor=request.user)
        if data.get("withdrawal"):
            outcome = credits_withdraw(
                station=station, amount=data["withdrawal"], memo=memo, actor=request.user
            )
            if outcome.refusal is not None:
                raise outcome.refusal


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdminMixin, StationScopedAdminMixin, admin.ModelAdmin):
    station_lookups = ("account__station",)
    list_display = (
        "created_at",
        "account",
        "kind",
        *Entry.AMOUNTS,
        "transfer",
        "consent",
        "actor",
        "memo",
    )
    list_filter = ("kind", ("transfer__consent", admin.ChoicesFieldListFilter), "created_at")
    search_fields = ("account__station__code", "memo", "transfer__trade__transaction_id")
    list_select_related = (
        "account__station",
        "transfer__consented_by",
        "transfer__agreement",
        "actor",
    )
    date_hierarchy = "created_at"
    readonly_fields = ("consent",)

    @admin.display(description="consent", ordering="transfer__consent")
    def consent(self, entry) -> str:
        """Whose say let the transfer's debit commit (trades.consent), as the ledger records it:
        "A standing agreement agr-… (granted by ana)", "The station's operator (ana)"."""
        return consent_of(entry.transfer)


def consent_of(transfer) -> str:
    if transfer is None or not transfer.consent:
        return "-"
    words = transfer.get_consent_display()
    if transfer.agreement_id is not None:
        words += f" {transfer.agreement.agreement_id}"
    if transfer.consented_by_id is not None:
        by = transfer.consented_by.get_username()
        words += f" (granted by {by})" if transfer.agreement_id else f" ({by})"
    return words
