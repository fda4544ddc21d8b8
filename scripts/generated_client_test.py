"""Calls every route of a running adam-server through a client generated from its own OpenAPI
document (openapi-python-client), so that each answer is parsed by the generated models: a
field the document misdescribes (say, a null it does not allow) fails here.

    python generated_client_test.py BASE_URL PACKAGE_DIR

PACKAGE_DIR holds the generated package `adam_client`.
"""

import base64
import hashlib
import hmac
import struct
import sys
import time
import uuid

base, package_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, package_dir)

from adam_client import AuthenticatedClient, Client  # noqa: E402
from adam_client.api.auth import (  # noqa: E402
    delete_api_v1_auth_sessions_id,
    get_api_v1_auth_me,
    get_api_v1_auth_mfa,
    get_api_v1_auth_permissions,
    get_api_v1_auth_sessions,
    post_api_v1_auth_login,
    post_api_v1_auth_login_mfa,
    post_api_v1_auth_login_mfa_enroll,
    post_api_v1_auth_login_mfa_enroll_confirm,
    post_api_v1_auth_login_password,
    post_api_v1_auth_mfa_recovery_codes,
    post_api_v1_auth_mfa_totp,
    post_api_v1_auth_mfa_totp_confirm,
    post_api_v1_auth_mfa_totp_disable,
    post_api_v1_auth_introspect,
    post_api_v1_auth_logout,
    post_api_v1_auth_logout_all,
    post_api_v1_auth_password_reset,
    post_api_v1_auth_refresh,
)
from adam_client.api.audit import get_api_v1_audit_events  # noqa: E402
from adam_client.api.clients import (  # noqa: E402
    delete_api_v1_oauth_clients_client_id,
    get_api_v1_oauth_clients,
    get_api_v1_oauth_clients_client_id,
    patch_api_v1_oauth_clients_client_id,
    post_api_v1_oauth_clients,
    post_api_v1_oauth_clients_client_id_secret,
)
from adam_client.api.discovery import (  # noqa: E402
    get_well_known_jwks_json,
    get_well_known_oauth_authorization_server,
    get_well_known_openid_configuration,
)
from adam_client.api.open_id_connect import (  # noqa: E402
    get_oauth2_userinfo,
    post_oauth2_revoke,
    post_oauth2_token,
    post_oauth2_userinfo,
)
from adam_client.api.dealerships import (  # noqa: E402
    delete_api_v1_dealerships_id,
    get_api_v1_dealerships,
    get_api_v1_dealerships_id,
    patch_api_v1_dealerships_id,
    post_api_v1_dealerships,
)
from adam_client.api.users import (  # noqa: E402
    delete_api_v1_invitations_id,
    delete_api_v1_users_id,
    delete_api_v1_users_id_mfa,
    delete_api_v1_users_id_sessions,
    get_api_v1_invitations,
    get_api_v1_users,
    get_api_v1_users_id,
    get_api_v1_users_id_sessions,
    get_api_v1_users_review,
    patch_api_v1_users_id,
    post_api_v1_invitations,
    post_api_v1_invitations_id_resend,
    post_api_v1_users,
)
from adam_client.models import (  # noqa: E402
    AccessReview,
    AuditPage,
    CodeRequest,
    Dealership,
    DealershipCreate,
    DealershipUpdate,
    DisableTotpRequest,
    EnrolledTokenPair,
    Introspection,
    IntrospectRequest,
    Invitation,
    InvitationCreate,
    InvitationStatus,
    Jwks,
    LoginRequest,
    MfaLoginRequest,
    MfaStatus,
    MfaTokenRequest,
    OAuthClient,
    OAuthClientCreate,
    OAuthClientUpdate,
    OAuthError,
    OpenIdConfiguration,
    PagedDealership,
    PagedInvitation,
    PasswordResetRequest,
    PasswordChangeRequest,
    PasswordConfirmation,
    PagedUser,
    Permissions,
    Problem,
    RecoveryCodes,
    RefreshRequest,
    RevokeRequest,
    Role,
    ServerMetadata,
    SessionList,
    TokenPair,
    TokenRequest,
    TotpEnrollment,
    User,
    UserCreate,
    UserInfoForm,
    UserUpdate,
)

called = []


def totp(secret, offset_steps=0):
    """The RFC 6238 code of a base32 secret, as an authenticator app computes it."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int(time.time()) // 30 + offset_steps
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def expect(name, response, status, kind):
    called.append(name)
    assert response.status_code == status, f"{name}: {response.status_code} {response.content!r}"
    if kind is not None:
        assert isinstance(response.parsed, kind), f"{name}: parsed {response.parsed!r}"
    return response.parsed


anonymous = Client(base_url=base, raise_on_unexpected_status=True)
pair = expect(
    "POST /auth/login",
    post_api_v1_auth_login.sync_detailed(
        client=anonymous, body=LoginRequest(email="admin@avataradam.com", password="Admin123!@#")
    ),
    200,
    TokenPair,
)
pair = expect(
    "POST /auth/refresh",
    post_api_v1_auth_refresh.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=pair.refresh_token)),
    200,
    TokenPair,
)
admin = AuthenticatedClient(base_url=base, token=pair.access_token, raise_on_unexpected_status=True)

metadata = expect(
    "GET /.well-known/oauth-authorization-server",
    get_well_known_oauth_authorization_server.sync_detailed(client=anonymous),
    200,
    ServerMetadata,
)
jwks = expect("GET /.well-known/jwks.json", get_well_known_jwks_json.sync_detailed(client=anonymous), 200, Jwks)
assert jwks.keys and all(
    (key.kty, key.crv, key.alg) == ("OKP", "Ed25519", "EdDSA") or (key.kty, key.alg, key.e) == ("RSA", "RS256", "AQAB")
    for key in jwks.keys
), jwks
assert any(key.kty == "OKP" for key in jwks.keys), jwks
active = expect(
    "POST /auth/introspect",
    post_api_v1_auth_introspect.sync_detailed(client=anonymous, body=IntrospectRequest(token=pair.access_token)),
    200,
    Introspection,
)
assert active.active and active.iss == metadata.issuer and active.role == Role.SYSTEM_ADMIN, active

me = expect("GET /auth/me", get_api_v1_auth_me.sync_detailed(client=admin), 200, User)
allowed = expect("GET /auth/permissions", get_api_v1_auth_permissions.sync_detailed(client=admin), 200, Permissions)
assert "users.create" in allowed.actions and len(allowed.assignable_roles) == 3, allowed
assert me.dealership_id is None and me.role == Role.SYSTEM_ADMIN

page = expect("GET /users", get_api_v1_users.sync_detailed(client=admin, limit=100, q="a"), 200, PagedUser)
assert page.total >= 3 and all(isinstance(u, User) for u in page.items)

dealership = expect(
    "POST /dealerships",
    post_api_v1_dealerships.sync_detailed(client=admin, body=DealershipCreate(name="Generated Motors")),
    201,
    Dealership,
)
expect("GET /dealerships", get_api_v1_dealerships.sync_detailed(client=admin), 200, PagedDealership)
expect("GET /dealerships/{id}", get_api_v1_dealerships_id.sync_detailed(dealership.id, client=admin), 200, Dealership)
renamed = expect(
    "PATCH /dealerships/{id}",
    patch_api_v1_dealerships_id.sync_detailed(dealership.id, client=admin, body=DealershipUpdate(name="Generated Autos")),
    200,
    Dealership,
)
assert renamed.name == "Generated Autos"

user = expect(
    "POST /users",
    post_api_v1_users.sync_detailed(
        client=admin,
        body=UserCreate(
            email=f"generated-{uuid.uuid4().hex[:8]}@example.com",
            full_name="Generated Principal",
            password="a generated long passphrase",
            role=Role.DEALER_PRINCIPAL,
            dealership_id=dealership.id,
        ),
    ),
    201,
    User,
)
expect("GET /users/{id}", get_api_v1_users_id.sync_detailed(user.id, client=admin), 200, User)

# The second factor, as the new principal with an authenticator app. Three codes (the previous,
# current and next steps) are used, so the run starts with enough of the current step left.
if 30 - int(time.time()) % 30 < 12:
    time.sleep(30 - int(time.time()) % 30 + 1)
gen_password = "a generated long passphrase"
gen_pair = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email=user.email, password=gen_password)
).parsed
gen = AuthenticatedClient(base_url=base, token=gen_pair.access_token, raise_on_unexpected_status=True)
status = expect("GET /auth/mfa", get_api_v1_auth_mfa.sync_detailed(client=gen), 200, MfaStatus)
assert not status.totp_enabled and not status.required, status
started = expect(
    "POST /auth/mfa/totp",
    post_api_v1_auth_mfa_totp.sync_detailed(client=gen, body=PasswordConfirmation(current_password=gen_password)),
    200,
    TotpEnrollment,
)
codes = expect(
    "POST /auth/mfa/totp/confirm",
    post_api_v1_auth_mfa_totp_confirm.sync_detailed(client=gen, body=CodeRequest(code=totp(started.secret, -1))),
    200,
    RecoveryCodes,
)
codes = expect(
    "POST /auth/mfa/recovery-codes",
    post_api_v1_auth_mfa_recovery_codes.sync_detailed(client=gen, body=CodeRequest(code=totp(started.secret))),
    200,
    RecoveryCodes,
)
assert len(codes.recovery_codes) == 10, codes
challenge = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email=user.email, password=gen_password)
)
assert challenge.status_code == 401 and isinstance(challenge.parsed, Problem), challenge
assert challenge.parsed.type_.endswith("/problems/mfa-required") and challenge.parsed.mfa_token, challenge.parsed
expect(
    "POST /auth/login/mfa",
    post_api_v1_auth_login_mfa.sync_detailed(
        client=anonymous, body=MfaLoginRequest(mfa_token=challenge.parsed.mfa_token, code=codes.recovery_codes[0])
    ),
    200,
    TokenPair,
)
expect(
    "POST /auth/mfa/totp/disable",
    post_api_v1_auth_mfa_totp_disable.sync_detailed(
        client=gen, body=DisableTotpRequest(current_password=gen_password, code=totp(started.secret, 1))
    ),
    204,
    None,
)
required = patch_api_v1_dealerships_id.sync_detailed(
    dealership.id, client=admin, body=DealershipUpdate(mfa_required=True)
).parsed
assert required.mfa_required, required
challenge = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email=user.email, password=gen_password)
).parsed
assert challenge.type_.endswith("/problems/mfa-enrollment-required"), challenge
again = expect(
    "POST /auth/login/mfa/enroll",
    post_api_v1_auth_login_mfa_enroll.sync_detailed(client=anonymous, body=MfaTokenRequest(mfa_token=challenge.mfa_token)),
    200,
    TotpEnrollment,
)
enrolled = expect(
    "POST /auth/login/mfa/enroll/confirm",
    post_api_v1_auth_login_mfa_enroll_confirm.sync_detailed(
        client=anonymous, body=MfaLoginRequest(mfa_token=challenge.mfa_token, code=totp(again.secret))
    ),
    200,
    EnrolledTokenPair,
)
assert len(enrolled.recovery_codes) == 10 and enrolled.token_type == "bearer", enrolled
expect("DELETE /users/{id}/mfa", delete_api_v1_users_id_mfa.sync_detailed(user.id, client=admin), 204, None)
changed = expect(
    "PATCH /users/{id}",
    patch_api_v1_users_id.sync_detailed(user.id, client=admin, body=UserUpdate(full_name="Generated Person")),
    200,
    User,
)
assert changed.full_name == "Generated Person"
missing = get_api_v1_users_id.sync_detailed(uuid.UUID(int=0), client=admin)
assert missing.status_code == 404 and isinstance(missing.parsed, Problem), missing
mine = expect("GET /auth/sessions", get_api_v1_auth_sessions.sync_detailed(client=admin), 200, SessionList)
assert any(s.current for s in mine.items), mine
theirs = expect(
    "GET /users/{id}/sessions", get_api_v1_users_id_sessions.sync_detailed(user.id, client=admin), 200, SessionList
)
assert theirs.items == [], theirs
expect(
    "DELETE /users/{id}/sessions", delete_api_v1_users_id_sessions.sync_detailed(user.id, client=admin), 204, None
)
# A password set by someone else is changed at the next sign-in (the dealership first stops
# requiring a second factor, so that the password is the only step before it).
patch_api_v1_dealerships_id.sync_detailed(dealership.id, client=admin, body=DealershipUpdate(mfa_required=False))
patch_api_v1_users_id.sync_detailed(
    user.id, client=admin, body=UserUpdate(password="set by the admin 2026", must_change_password=True)
)
asked = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email=user.email, password="set by the admin 2026")
).parsed
assert asked.type_.endswith("/problems/password-change-required") and asked.password_change_token, asked
expect(
    "POST /auth/login/password",
    post_api_v1_auth_login_password.sync_detailed(
        client=anonymous,
        body=PasswordChangeRequest(password_change_token=asked.password_change_token, new_password=gen_password + " 2"),
    ),
    200,
    TokenPair,
)

expect("DELETE /users/{id}", delete_api_v1_users_id.sync_detailed(user.id, client=admin), 204, None)
expect("DELETE /dealerships/{id}", delete_api_v1_dealerships_id.sync_detailed(dealership.id, client=admin), 204, None)

expect(
    "POST /auth/logout",
    post_api_v1_auth_logout.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=pair.refresh_token)),
    204,
    None,
)
second = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email="admin@avataradam.com", password="Admin123!@#")
).parsed
third = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email="admin@avataradam.com", password="Admin123!@#")
).parsed
expect(
    "DELETE /auth/sessions/{id}",
    delete_api_v1_auth_sessions_id.sync_detailed(
        [s.id for s in get_api_v1_auth_sessions.sync_detailed(client=AuthenticatedClient(base_url=base, token=third.access_token)).parsed.items if s.current][0],
        client=AuthenticatedClient(base_url=base, token=third.access_token, raise_on_unexpected_status=True),
    ),
    204,
    None,
)
everywhere = AuthenticatedClient(base_url=base, token=second.access_token, raise_on_unexpected_status=True)
expect("POST /auth/logout-all", post_api_v1_auth_logout_all.sync_detailed(client=everywhere), 204, None)

# The audit log: a first page of two, then the next one by its cursor, each parsed (a new
# sign-in: signing out everywhere ended the admin's sessions).
fresh = post_api_v1_auth_login.sync_detailed(
    client=anonymous, body=LoginRequest(email="admin@avataradam.com", password="Admin123!@#")
).parsed
admin = AuthenticatedClient(base_url=base, token=fresh.access_token, raise_on_unexpected_status=True)
first_page = expect("GET /audit-events", get_api_v1_audit_events.sync_detailed(client=admin, limit=2), 200, AuditPage)
assert len(first_page.items) == 2 and isinstance(first_page.next_cursor, str), first_page
next_page = expect(
    "GET /audit-events",
    get_api_v1_audit_events.sync_detailed(client=admin, limit=2, cursor=first_page.next_cursor),
    200,
    AuditPage,
)
assert next_page.items and next_page.items[0].id != first_page.items[0].id, next_page

review = expect("GET /users/review", get_api_v1_users_review.sync_detailed(client=admin), 200, AccessReview)
assert any(e.user.email == "admin@avataradam.com" and e.live_sessions >= 1 for e in review.items), review

# Invitations (no SMTP_URL here: the answer holds the link) and a password reset request.
invited = expect(
    "POST /invitations",
    post_api_v1_invitations.sync_detailed(
        client=admin,
        body=InvitationCreate(email=f"invitee-{uuid.uuid4().hex[:8]}@example.com", full_name="Invited Person", role=Role.SYSTEM_ADMIN),
    ),
    201,
    Invitation,
)
assert invited.status == InvitationStatus.PENDING and "/invite/adam_inv_" in invited.invite_url, invited
renewed = expect(
    "POST /invitations/{id}/resend",
    post_api_v1_invitations_id_resend.sync_detailed(invited.id, client=admin),
    200,
    Invitation,
)
assert renewed.invite_url != invited.invite_url, renewed
listed = expect("GET /invitations", get_api_v1_invitations.sync_detailed(client=admin), 200, PagedInvitation)
assert any(i.id == invited.id for i in listed.items), listed
expect("DELETE /invitations/{id}", delete_api_v1_invitations_id.sync_detailed(invited.id, client=admin), 204, None)
expect(
    "POST /auth/password-reset",
    post_api_v1_auth_password_reset.sync_detailed(client=anonymous, body=PasswordResetRequest(email="nobody@example.com")),
    202,
    None,
)

# OpenID Connect clients: registered (the secret shown once), read, changed, renewed, deleted.
made = expect(
    "POST /oauth-clients",
    post_api_v1_oauth_clients.sync_detailed(
        client=admin,
        body=OAuthClientCreate(name="Training portal", redirect_uris=["https://training.dealer.example/cb"]),
    ),
    201,
    OAuthClient,
)
assert made.client_secret.startswith("adam_cs_"), made
read = expect(
    "GET /oauth-clients/{client_id}",
    get_api_v1_oauth_clients_client_id.sync_detailed(made.client_id, client=admin),
    200,
    OAuthClient,
)
assert not read.client_secret, read
changed = expect(
    "PATCH /oauth-clients/{client_id}",
    patch_api_v1_oauth_clients_client_id.sync_detailed(
        made.client_id, client=admin, body=OAuthClientUpdate(first_party=True)
    ),
    200,
    OAuthClient,
)
assert changed.first_party, changed
renewed_client = expect(
    "POST /oauth-clients/{client_id}/secret",
    post_api_v1_oauth_clients_client_id_secret.sync_detailed(made.client_id, client=admin),
    200,
    OAuthClient,
)
assert renewed_client.client_secret != made.client_secret
clients = get_api_v1_oauth_clients.sync_detailed(client=admin)
called.append("GET /oauth-clients")
assert clients.status_code == 200 and any(c.client_id == "adam-desktop" for c in clients.parsed), clients
expect(
    "DELETE /oauth-clients/{client_id}",
    delete_api_v1_oauth_clients_client_id.sync_detailed(made.client_id, client=admin),
    204,
    None,
)

# The OpenID Connect provider's JSON endpoints (the code flow itself is walked by a real
# relying party library in scripts/oidc_authlib_test.py): discovery, and each endpoint's
# documented refusal, parsed.
discovery = expect(
    "GET /.well-known/openid-configuration",
    get_well_known_openid_configuration.sync_detailed(client=anonymous),
    200,
    OpenIdConfiguration,
)
assert discovery.code_challenge_methods_supported == ["S256"], discovery
refused = expect(
    "POST /oauth2/token",
    post_oauth2_token.sync_detailed(
        client=anonymous, body=TokenRequest(grant_type="authorization_code", client_id="no-such-client")
    ),
    401,
    OAuthError,
)
assert refused.error == "invalid_client", refused
expect("GET /oauth2/userinfo", get_oauth2_userinfo.sync_detailed(client=admin), 401, None)
expect("POST /oauth2/userinfo", post_oauth2_userinfo.sync_detailed(client=admin, body=UserInfoForm()), 401, None)
refused = expect(
    "POST /oauth2/revoke",
    post_oauth2_revoke.sync_detailed(client=anonymous, body=RevokeRequest(token="x", client_id="no-such-client")),
    401,
    OAuthError,
)
assert refused.error == "invalid_client", refused

print(f"generated client: {len(called)} routes called, every answer parsed")
assert len(set(called)) == 51, sorted(set(called))
