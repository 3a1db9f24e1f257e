"""Who did something, as the records keep it."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, cast

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser, User

# Whom a service acts for: a request's user, signed in or anonymous, or nobody (a command, the
# system). The project's user model is Django's own, so a signed-in actor is a User.
Actor: TypeAlias = "AbstractBaseUser | AnonymousUser | None"


def user_or_none(actor: Actor) -> User | None:
    """The user to record as having acted: None for nobody or an anonymous caller."""
    return cast("User", actor) if actor is not None and actor.is_authenticated else None
