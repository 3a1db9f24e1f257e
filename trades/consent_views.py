"""The API of consent: proposals (/api/proposals/) and standing agreements (/api/agreements/)
(docs/api.md#consent). The rules are trades.consent's, trades.proposals' and
trades.agreements'; these views only read requests and answer."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import DomainError
from credits.disclosure import as_told_to

from .agreements import agreement_grant, agreement_revoke
from .filters import AgreementFilter, ProposalFilter
from .proposals import proposal_accept, proposal_create, proposal_decline, proposal_withdraw
from .selectors import agreements_visible_to, proposals_visible_to
from .serializers import (
    AgreementCreateSerializer,
    AgreementSerializer,
    ProposalCreateSerializer,
    ProposalSerializer,
)

NO_BODY = None


@extend_schema_view(
    list=extend_schema(summary="List trade proposals, newest first"),
    retrieve=extend_schema(summary="One trade proposal"),
)
class ProposalViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """A trade one side offers and the other side's operators answer. A proposal holds nothing
    of either side; accepting it places the trade."""

    serializer_class = ProposalSerializer
    lookup_field = "proposal_id"
    filterset_class = ProposalFilter
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        # A proposal the caller may not read answers 404, as one that does not exist.
        return proposals_visible_to(self.request.user)

    @extend_schema(
        summary="Propose a trade to the other side",
        description="The caller proposes for the side they operate (the seller's when they "
        "operate both). Nothing is held until the other side's operators accept it.",
        request=ProposalCreateSerializer,
        responses={201: ProposalSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = ProposalCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        proposal = proposal_create(
            seller=data["seller"],
            buyer=data["buyer"],
            lines=serializer.line_specs(),
            actor=request.user,
            terms=data["terms"],
            note=data["note"],
        )
        return Response(ProposalSerializer(proposal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Accept a proposal: its trade is placed",
        description="The answering side's operators (or dispatch staff). The trade is placed "
        "as POST /api/trades/ places one; 409 if the seller lacks the goods or the buyer the "
        "credits, with the proposal still open.",
        request=NO_BODY,
        responses={200: ProposalSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def accept(self, request, proposal_id=None):
        proposal = self.get_object()
        try:
            proposal = proposal_accept(proposal=proposal, actor=request.user)
        except DomainError as exc:
            raise as_told_to(request.user, exc) from None
        return self._answer(proposal)

    @extend_schema(
        summary="Decline a proposal (the answering side)",
        request=NO_BODY,
        responses={200: ProposalSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def decline(self, request, proposal_id=None):
        return self._answer(proposal_decline(proposal=self.get_object(), actor=request.user))

    @extend_schema(
        summary="Withdraw a proposal (the proposing side)",
        request=NO_BODY,
        responses={200: ProposalSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def withdraw(self, request, proposal_id=None):
        return self._answer(proposal_withdraw(proposal=self.get_object(), actor=request.user))

    def _answer(self, proposal) -> Response:
        fresh = proposals_visible_to(self.request.user).get(pk=proposal.pk)
        return Response(ProposalSerializer(fresh).data)


@extend_schema_view(
    list=extend_schema(summary="List standing agreements, newest first"),
    retrieve=extend_schema(summary="One standing agreement"),
)
class AgreementViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """A buyer's standing consent to one seller's trades, within limits: its operators grant
    and revoke it; the seller's operators see it. Its uses: /api/trades/?agreement=<id>."""

    serializer_class = AgreementSerializer
    lookup_field = "agreement_id"
    filterset_class = AgreementFilter
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        return agreements_visible_to(self.request.user)

    @extend_schema(
        summary="Grant a seller a standing agreement (the buyer's operators)",
        request=AgreementCreateSerializer,
        responses={201: AgreementSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = AgreementCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            agreement = agreement_grant(actor=request.user, **serializer.validated_data)
        fresh = agreements_visible_to(request.user).get(pk=agreement.pk)
        return Response(AgreementSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke an agreement at once (the buyer's operators)",
        description="No trade placed after the revocation commits may use it; trades already "
        "under way keep their hold.",
        request=NO_BODY,
        responses={200: AgreementSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def revoke(self, request, agreement_id=None):
        agreement = agreement_revoke(agreement=self.get_object(), actor=request.user)
        fresh = agreements_visible_to(request.user).get(pk=agreement.pk)
        return Response(AgreementSerializer(fresh).data)
