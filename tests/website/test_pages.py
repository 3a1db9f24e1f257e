"""What a person signed in through the admin's form clicks first, against a live server."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from inventory.services import operator_grant
from tests.factories import StationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-correct-horse-42"  # the factories' password


def signed_in(base: str, username: str) -> httpx.Client:
    """A client holding a session, signed in as a browser does: the admin's login form."""
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    form = client.get("/admin/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    done = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD,
              "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"},
    )  # fmt: skip
    assert done.status_code == 302, done.text[:500]
    return client


def links(page: httpx.Response) -> set[str]:
    """Same-site links of a page (GET targets; no sign-out, which is a form)."""
    found, here = set(), urlsplit(str(page.url)).netloc
    for href in re.findall(r'href="([^"#]+)"', page.text):
        url = urlsplit(urljoin(str(page.url), href.replace("&amp;", "&")))
        if url.netloc == here and "logout" not in url.path:
            found.add(url.path + (f"?{url.query}" if url.query else ""))
    return found


@pytest.mark.parametrize("role", ["superuser", "operator"])
def test_every_link_of_the_first_pages_answers_without_a_server_error(api_server, role):
    user = UserFactory(username=role, is_staff=True, is_superuser=role == "superuser")
    if role == "operator":
        operator_grant(user=user, stations=[StationFactory(code="ceres-prime")])
    client = signed_in(api_server, role)
    home = client.get("/")
    assert home.status_code == 200
    assert {"/live", "/api/docs", "/admin"} <= {path.rstrip("/") for path in links(home)}
    visited = {}
    for start in ("/admin/", "/", "/live/", "/api/docs/"):
        page = client.get(start)
        assert page.status_code == 200, (start, page.status_code)
        for path in links(page) - visited.keys():
            visited[path] = client.get(path).status_code
    failures = {path: status for path, status in visited.items() if status >= 500}
    assert not failures, failures
    assert len(visited) > 10  # the admin's index alone links every model


def test_anonymous_callers_are_sent_to_sign_in(api_server):
    answer = httpx.get(f"{api_server}/", timeout=10)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/admin/login/")


@pytest.mark.parametrize("with_session", [False, True])
def test_unknown_urls_are_404_json_under_the_api_and_html_elsewhere(api_server, with_session):
    UserFactory(username="someone", is_staff=True)
    client = (
        signed_in(api_server, "someone")
        if with_session
        else httpx.Client(base_url=api_server, timeout=10)
    )
    api = client.get("/api/no-such-thing/")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/api/").status_code == 404
