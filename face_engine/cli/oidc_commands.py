"""OpenID provider commands (issue 19): oidc-client add/list/remove, oidc-rotate-key."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from face_engine.config import Settings

if TYPE_CHECKING:
    from face_engine.provider import Provider
    from face_engine.store.interfaces import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``oidc-client`` and ``oidc-rotate-key`` to ``subparsers``."""
    client = subparsers.add_parser("oidc-client", help="applications that sign people in here")
    actions = client.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register an application; prints its secret once")
    add.add_argument("name", help="what the consent page calls it")
    add.add_argument(
        "--redirect-uri", action="append", required=True, help="exact redirect URI (repeat)"
    )
    add.add_argument("--client-id", help="default: a random one")
    add.add_argument("--scope", action="append", help="openid (always) and profile (default)")
    add.add_argument("--public", action="store_true", help="no secret; PKCE required")
    add.add_argument("--no-consent", action="store_true", help="do not ask the person first")
    add.add_argument(
        "--post-logout-redirect-uri", action="append", help="where logout may return (repeat)"
    )
    add.set_defaults(func=run_add)
    actions.add_parser("list", help="the registered applications").set_defaults(func=run_list)
    remove = actions.add_parser("remove", help="remove an application; its tokens stop working")
    remove.add_argument("client_id")
    remove.set_defaults(func=run_remove)
    rotate = subparsers.add_parser(
        "oidc-rotate-key", help="sign ID tokens with a new key (the old one stays published)"
    )
    rotate.set_defaults(func=run_rotate)


def _provider(settings: Settings) -> tuple[Store, Provider]:
    from face_engine.provider import Provider
    from face_engine.store.factory import open_store

    store = open_store(settings.store, settings.data.dir)
    return store, Provider(store.oidc, store.users, store.audit, settings.oidc)


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit

    store, provider = _provider(settings)
    try:
        client, secret = provider.clients.register(
            args.name,
            args.redirect_uri,
            client_id=args.client_id,
            scopes=["openid", *args.scope] if args.scope else None,
            public=args.public,
            consent=not args.no_consent,
            post_logout_redirect_uris=args.post_logout_redirect_uri,
        )
    finally:
        store.close()
    emit({**client.public_json(), "client_secret": secret})
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit

    store, provider = _provider(settings)
    try:
        emit({"clients": [c.public_json() for c in provider.clients.all()]})
    finally:
        store.close()
    return 0


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit

    store, provider = _provider(settings)
    try:
        provider.clients.remove(args.client_id)
    finally:
        store.close()
    emit({"deleted": args.client_id})
    return 0


def run_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit

    store, provider = _provider(settings)
    try:
        key = provider.keys.rotate()
        emit({"kid": key.kid, "published": [k.kid for k in provider.keys.published()]})
    finally:
        store.close()
    return 0
