from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def obtain(client, username="ceres-op", password="pw-correct-horse-42"):
    return client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_token_flow_obtain_use_revoke(ceres_op):
    client = APIClient()
    response = obtain(client)
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["expiry"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/trades/").status_code == 200

    assert client.post("/api/auth/token/revoke/").status_code == 204
    assert client.get("/api/trades/").status_code == 401


def test_tokens_are_stored_hashed(ceres_op):
    token = obtain(APIClient()).json()["token"]
    stored = AuthToken.objects.get(user=ceres_op)
    assert token not in (stored.digest, stored.token_key)
    assert len(stored.digest) == 128  # SHA-512 hex digest


def test_expired_token_is_refused(ceres_op):
    client = APIClient()
    token = obtain(client).json()["token"]
    AuthToken.objects.filter(user=ceres_op).update(expiry=timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/trades/").status_code == 401


def test_revoke_all_ends_every_session(ceres_op):
    a, b = APIClient(), APIClient()
    a.credentials(HTTP_AUTHORIZATION=f"Token {obtain(a).json()['token']}")
    b.credentials(HTTP_AUTHORIZATION=f"Token {obtain(b).json()['token']}")
    assert a.post("/api/auth/token/revoke-all/").status_code == 204
    assert b.get("/api/trades/").status_code == 401


def test_wrong_password_is_400_invalid_grant_in_plain_words(ceres_op):
    """As an OAuth 2 token endpoint answers wrong credentials (RFC 6749, 5.2), without saying
    which of the two was wrong, and without an internal field name."""
    response = obtain(APIClient(), password="wrong")
    assert response.status_code == 400
    assert response.json() == {"message": "Wrong username or password.", "code": "invalid_grant"}


def test_unknown_user_reads_the_same_as_a_wrong_password(db):
    response = obtain(APIClient(), username="nobody", password="wrong")
    assert response.status_code == 400
    assert response.json()["message"] == "Wrong username or password."


def test_missing_password_names_the_field(db):
    response = APIClient().post("/api/auth/token/", {"username": "ana"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"password": ["This field is required."]}
    assert response.json()["message"] == "password: This field is required."


@pytest.mark.parametrize(
    "header", ["Token", "Token a b", "Token not-a-real-token", "Token \xe9\xff", "Bearer x"]
)
def test_bad_authorization_headers_are_401(header, db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/trades/")
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}


@pytest.mark.parametrize(
    "path",
    ["/api/trades/", "/api/cargo/", "/api/inventory/", "/api/stations/", "/api/commodities/",
     "/api/trades/txn-x/", "/api/cargo/x/events/", "/api/inventory/x/movements/"],
)  # fmt: skip
def test_anonymous_callers_get_401_everywhere_but_schema_and_docs(path, db):
    client = APIClient()
    response = client.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_swagger_ui_assets_are_served_locally(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "cdn" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_failed_sign_ins_lock_out_the_username_and_the_address(ceres_op, outsider, settings):
    client = APIClient()
    limit = settings.AXES_FAILURE_LIMIT
    # The failure that reaches the limit is already refused.
    statuses = [obtain(client, password="wrong").status_code for _ in range(limit - 1)]
    assert statuses == [400] * (limit - 1)
    locked = obtain(client, password="wrong")
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_failed_sign_ins"
    assert int(locked["Retry-After"]) > 0
    assert obtain(client).status_code == 429  # the right password waits too
    other = client.post(
        "/api/auth/token/",
        {"username": "outsider", "password": "pw-correct-horse-42"},
        format="json",
    )
    assert other.status_code == 429  # and so does everyone from this address


def test_browsable_api_works_with_a_session(client, ceres_op):
    client.force_login(ceres_op)
    page = client.get("/api/trades/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"Trade List" in page.content


def test_a_user_holding_the_token_limit_gets_no_more_until_one_goes(ceres_op, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 3}
    tokens = [obtain(APIClient()).json()["token"] for _ in range(3)]

    refused = obtain(APIClient())
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "too_many_tokens"
    assert "3 API tokens" in body["message"] and "revoke" in body["message"]
    assert body["detail"]["limit"] == 3
    assert body["detail"]["next_expiry"]
    assert AuthToken.objects.filter(user=ceres_op).count() == 3

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[0]}")
    assert client.post("/api/auth/token/revoke/").status_code == 204
    assert obtain(APIClient()).status_code == 200


def test_expired_tokens_do_not_count_toward_the_limit(ceres_op, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    for _ in range(2):
        assert obtain(APIClient()).status_code == 200
    AuthToken.objects.filter(user=ceres_op).update(expiry=timezone.now() - timedelta(seconds=1))
    assert obtain(APIClient()).status_code == 200
    assert AuthToken.objects.filter(user=ceres_op).count() == 1


def test_the_limit_is_each_users_own(ceres_op, vesta_op, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 1}
    assert obtain(APIClient()).status_code == 200
    assert obtain(APIClient()).status_code == 403
    assert obtain(APIClient(), username="vesta-op").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_sign_ins_at_the_same_moment_cannot_pass_the_limit_together(ceres_op, settings):
    """The user's row is locked while the tokens are counted: of eight sign-ins at once with
    room for two tokens, two get one."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    barrier = threading.Barrier(8)

    def sign_in(_):
        try:
            barrier.wait(timeout=30)
            return obtain(APIClient()).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(sign_in, range(8)))
    assert statuses == [200, 200] + [403] * 6
    assert AuthToken.objects.filter(user=ceres_op).count() == 2
