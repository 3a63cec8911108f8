"""`scrobblerd auth` (device-code login) and `scrobblerd logout`."""

from __future__ import annotations

import argparse
import sys

from scrobblerd.cli.common import fail, load_config_or_exit


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    text = "device-code login: show a code, wait for approval, store the token"
    p = sub.add_parser("auth", parents=[common], help=text, description=text)
    p.set_defaults(handler=cmd_auth)
    text = "revoke and delete the token"
    p = sub.add_parser("logout", parents=[common], help=text, description=text)
    p.set_defaults(handler=cmd_logout)


def _configure_logging(args: argparse.Namespace, level: str) -> None:
    from scrobblerd import logs

    logs.configure(level=args.log_level or level, fmt="console", stream=sys.stderr)


ACTIVATION_PAGE = "https://auth.trakt.tv/activate"  # Trakt (2026): the hosted activation page
OLD_ACTIVATION_PAGES = ("https://trakt.tv/activate", "https://www.trakt.tv/activate")


def activation_page(verification_url: str) -> str:
    """The page to open: Trakt's answer, except its old address, which now lives on the auth host."""
    return ACTIVATION_PAGE if verification_url.rstrip("/") in OLD_ACTIVATION_PAGES else verification_url


def cmd_auth(args: argparse.Namespace) -> int:
    from scrobblerd.errors import AuthError, TraktError
    from scrobblerd.trakt.auth import auth_status, device_login, open_tokens
    from scrobblerd.trakt.client import TraktClient
    from scrobblerd.trakt.objects import DeviceCode

    config = load_config_or_exit(args)
    _configure_logging(args, "warning")
    manager, oauth = open_tokens(config)

    def show(code: DeviceCode) -> None:
        minutes = max(1, round(code.expires_in / 60))
        print("To connect scrobblerd to your Trakt account, open")
        print(f"\n    {activation_page(code.verification_url)}\n")
        print("and enter the code")
        print(f"\n    {code.user_code}\n")
        print(
            f"Waiting for approval (the code is valid for {minutes} minutes; Ctrl-C to give up)...",
            flush=True,
        )

    try:
        data = device_login(oauth, show)
        manager.store_login(data)
        with TraktClient(config.trakt, manager) as api:
            settings = api.user_settings()
        manager.set_username(settings.username)
    except AuthError as exc:
        return fail(f"not authorised: {exc}")
    except TraktError as exc:
        return fail(f"Trakt could not be reached or refused the request: {exc}")
    finally:
        oauth.close()
    status = auth_status(config)
    print(
        f"Authorised as {settings.username}. The token is valid until {status['expires_at']} and is "
        f"refreshed automatically."
    )
    print(f"Stored in {config.state_dir / 'token.json'} (mode 0600).")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from scrobblerd.errors import AuthError
    from scrobblerd.trakt.auth import open_tokens

    config = load_config_or_exit(args)
    _configure_logging(args, "warning")
    manager, oauth = open_tokens(config)
    try:
        existed, error = manager.logout()
    except AuthError as exc:
        return fail(str(exc))
    finally:
        oauth.close()
    if not existed:
        print("Not logged in; nothing to do.")
        return 0
    if error:
        print(f"Could not revoke the token on Trakt ({error}); deleted it locally anyway.")
    else:
        print("Token revoked on Trakt and deleted.")
    return 0
