"""The OAuth calls, all on Trakt's auth host (`trakt.auth_url`): device code and token, refresh,
revoke, and a probe of the host for `doctor`. A part of TraktClient; tokens live in auth.py."""

from __future__ import annotations

from typing import Any

from scrobblerd.errors import PermanentError, UnauthorizedError
from scrobblerd.trakt.calls import ClientPart
from scrobblerd.trakt.errors import excerpt, expect_object, json_body, shaped
from scrobblerd.trakt.objects import DeviceCode, DevicePoll

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"  # Trakt: redirect_uri for device/out-of-band apps
DEVICE_POLL_ANSWERS = frozenset({200, 400, 404, 409, 410, 418, 429})  # Trakt: /oauth/device/token


class OAuthCalls(ClientPart):
    """Mixed into TraktClient, whose transport these use."""

    def _client_auth(self) -> dict[str, str]:
        return {"client_id": self._config.client_id, "client_secret": self._config.client_secret}

    def device_code(self) -> DeviceCode:
        body = {"client_id": self._config.client_id}
        data = self._json(
            "POST", "/oauth/device/code", "device code", oauth=False, base=self._auth_base, json=body
        )
        return shaped(
            "device code",
            lambda: DeviceCode(
                str(data["device_code"]),
                str(data["user_code"]),
                str(data["verification_url"]),
                float(data["expires_in"]),
                float(data["interval"]),
            ),
        )

    def device_token(self, device_code: str) -> DevicePoll:
        body = {"code": device_code, **self._client_auth()}
        resp = self._call(
            "POST",
            "/oauth/device/token",
            "device token",
            oauth=False,
            base=self._auth_base,
            json=body,
            accept=tuple(DEVICE_POLL_ANSWERS - {200}),
        )
        if resp.status_code != 200:
            resp.close()
            return DevicePoll(resp.status_code)
        return DevicePoll(200, _token_dict(json_body(resp, "device token"), "device token"))

    def refresh_token(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token. An invalid grant (400/401) is UnauthorizedError."""
        body = {
            "refresh_token": refresh_token,
            "redirect_uri": OOB_REDIRECT,
            "grant_type": "refresh_token",
            **self._client_auth(),
        }
        resp = self._call(
            "POST",
            "/oauth/token",
            "token refresh",
            oauth=False,
            base=self._auth_base,
            json=body,
            accept=(400,),
        )
        if resp.status_code == 400:  # Trakt: {"error": "invalid_grant", "error_description": ...}
            raise UnauthorizedError(f"token refresh: HTTP 400: {excerpt(resp)}", 400)
        return _token_dict(json_body(resp, "token refresh"), "token refresh")

    def probe_auth_host(self) -> int:
        """The HTTP status of a plain GET of the OAuth host's authorize page: any answer means
        logins and refreshes can reach it. TransientError when nothing answers."""
        resp = self._send(
            "GET", "/oauth/authorize", "auth host", None, self._auth_base, allow_redirects=False
        )
        resp.close()
        return resp.status_code

    def revoke(self, token: str) -> None:
        body = {"token": token, **self._client_auth()}
        self._call("POST", "/oauth/revoke", "revoke", oauth=False, base=self._auth_base, json=body).close()


def _token_dict(data: Any, what: str) -> dict[str, Any]:
    token = expect_object(data, what)
    if not isinstance(token.get("access_token"), str) or not isinstance(token.get("refresh_token"), str):
        raise PermanentError(f"{what}: the answer has no access_token/refresh_token")
    return token
