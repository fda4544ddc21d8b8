"""A relying party written with an independent OpenID Connect library (Python's authlib) against
a running adam-server: discovery, the code flow with PKCE (S256), the ID token checked against
the JWKS (signature, issuer, audience, nonce, times; EdDSA and RS256), userinfo, a refresh, revocation and
RP-initiated logout. The browser's part (the sign-in form, consent) is sent as a browser sends
it, cookies kept by hand (the pages' cookies are `Secure`, which Python's cookie jar keeps off
plain http even on 127.0.0.1).

    python oidc_authlib_test.py BASE_URL
"""

import html
import re
import secrets
import sys
import urllib.parse
import warnings

import requests
# authlib.jose still ships in 1.x, deprecated in favour of joserfc; it is what its OpenID
# Connect client module builds on.
warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.jose import JsonWebKey, jwt  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402

base = sys.argv[1].rstrip("/")
REDIRECT = "https://portal.dealer.example/callback"
AFTER_LOGOUT = "https://portal.dealer.example/bye"


class Browser:
    """Follows no redirect; keeps cookies by name."""

    def __init__(self):
        self.jar = {}

    def _keep(self, resp):
        for header in resp.raw.headers.getlist("Set-Cookie"):
            name, value = header.split(";", 1)[0].split("=", 1)
            if "Max-Age=0" in header:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value

    def _cookie(self):
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def get(self, url):
        url = url if url.startswith("http") else base + url
        resp = requests.get(url, headers={"Cookie": self._cookie()}, allow_redirects=False)
        self._keep(resp)
        return resp

    def post(self, path, form):
        resp = requests.post(base + path, data=form, headers={"Cookie": self._cookie()}, allow_redirects=False)
        self._keep(resp)
        return resp


def hidden(page, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


# The provider, as any relying party finds it.
config = requests.get(f"{base}/.well-known/openid-configuration").json()
assert config["issuer"] == base, config
assert "S256" in config["code_challenge_methods_supported"], config
assert config["id_token_signing_alg_values_supported"] == ["EdDSA", "RS256"], config

admin = requests.post(
    f"{base}/api/v1/auth/login", json={"email": "admin@avataradam.com", "password": "Admin123!@#"}
).json()["access_token"]


def relying_party(client_id, alg):
    """An administrator registers a portal (a confidential client, not first-party, whose ID
    tokens are signed with `alg`); a manager signs in to it, and out."""
    made = requests.post(
        f"{base}/api/v1/oauth-clients",
        headers={"Authorization": f"Bearer {admin}"},
        json={
            "client_id": client_id,
            "name": f"Portal (authlib, {alg})",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [AFTER_LOGOUT],
            "id_token_signed_response_alg": alg,
        },
    )
    assert made.status_code == 201, made.text
    secret = made.json()["client_secret"]
    # The key set as the portal reads it once registered (RSA keys are published then).
    jwks = JsonWebKey.import_key_set(requests.get(config["jwks_uri"]).json())

    client = OAuth2Session(
        client_id,
        secret,
        scope="openid profile email offline_access",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(config["authorization_endpoint"], nonce=nonce, code_verifier=verifier)

    # The browser: to the sign-in page, the password, consent, back to the portal.
    browser = Browser()
    resp = browser.get(url)
    assert resp.status_code == 303, resp.text
    page = browser.get(resp.headers["Location"]).text
    resp = browser.post(
        "/signin",
        {
            "csrf": hidden(page, "csrf"),
            "step": "password",
            "email": "manager@premiumauto.com",
            "password": "Manager123!",
            "authorize": hidden(page, "authorize"),
        },
    )
    assert resp.status_code == 200 and f"Portal (authlib, {alg})" in resp.text, resp.text
    resp = browser.post(
        "/oauth2/authorize",
        {"csrf": hidden(resp.text, "csrf"), "request": hidden(resp.text, "request"), "decision": "allow"},
    )
    assert resp.status_code == 303, resp.text
    callback = resp.headers["Location"]
    assert callback.startswith(REDIRECT), callback
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    assert query["iss"] == base and query["state"] == state, query

    # The library exchanges the code (checking state) and validates the ID token.
    token = client.fetch_token(config["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"values": [base]}},
        claims_params={"nonce": nonce, "client_id": client_id},
    )
    claims.validate()
    assert claims["email"] == "manager@premiumauto.com" and claims["role"] == "fi_manager", dict(claims)
    assert jwt.decode(token["id_token"], jwks).header["alg"] == alg

    info = client.get(config["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["email"] == claims["email"], info

    # A refresh rotates the refresh token; revoking it ends the grant.
    old_refresh = token["refresh_token"]
    token = client.refresh_token(config["token_endpoint"], refresh_token=old_refresh)
    assert token["refresh_token"] != old_refresh
    assert jwt.decode(token["id_token"], jwks).header["alg"] == alg
    assert client.get(config["userinfo_endpoint"]).status_code == 200
    revoked = client.revoke_token(config["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200, revoked.text
    gone = client.get(config["userinfo_endpoint"])
    assert gone.status_code == 401 and "invalid_token" in gone.headers["WWW-Authenticate"], gone.headers

    # RP-initiated logout with the ID token: back to the registered page, the session ended.
    logout = config["end_session_endpoint"] + "?" + urllib.parse.urlencode(
        {"id_token_hint": token["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye"}
    )
    resp = browser.get(logout)
    assert resp.status_code == 303 and resp.headers["Location"] == f"{AFTER_LOGOUT}?state=bye", resp.headers
    assert "__Host-adam_session" not in browser.jar


for client_id, alg in [("authlib-portal", "EdDSA"), ("authlib-rsa-portal", "RS256")]:
    relying_party(client_id, alg)
print("authlib relying party, EdDSA and RS256: discovery, code flow with PKCE, ID token, userinfo, refresh, revocation, logout")
