"""Calls every route of a running adam-server through a client generated from its own OpenAPI
document (openapi-python-client), so that each answer is parsed by the generated models: a
field the document misdescribes (say, a null it does not allow) fails here.

    python generated_client_test.py BASE_URL PACKAGE_DIR

PACKAGE_DIR holds the generated package `adam_client`.
"""

import sys
import uuid

base, package_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, package_dir)

from adam_client import AuthenticatedClient, Client  # noqa: E402
from adam_client.api.auth import (  # noqa: E402
    delete_api_v1_auth_sessions_id,
    get_api_v1_auth_me,
    get_api_v1_auth_sessions,
    post_api_v1_auth_login,
    post_api_v1_auth_introspect,
    post_api_v1_auth_logout,
    post_api_v1_auth_logout_all,
    post_api_v1_auth_refresh,
)
from adam_client.api.discovery import (  # noqa: E402
    get_well_known_jwks_json,
    get_well_known_oauth_authorization_server,
)
from adam_client.api.dealerships import (  # noqa: E402
    delete_api_v1_dealerships_id,
    get_api_v1_dealerships,
    get_api_v1_dealerships_id,
    patch_api_v1_dealerships_id,
    post_api_v1_dealerships,
)
from adam_client.api.users import (  # noqa: E402
    delete_api_v1_users_id,
    delete_api_v1_users_id_sessions,
    get_api_v1_users,
    get_api_v1_users_id,
    get_api_v1_users_id_sessions,
    patch_api_v1_users_id,
    post_api_v1_users,
)
from adam_client.models import (  # noqa: E402
    Dealership,
    DealershipCreate,
    DealershipUpdate,
    Introspection,
    IntrospectRequest,
    Jwks,
    LoginRequest,
    PagedDealership,
    PagedUser,
    Problem,
    RefreshRequest,
    Role,
    ServerMetadata,
    SessionList,
    TokenPair,
    User,
    UserCreate,
    UserUpdate,
)

called = []


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
assert jwks.keys and all(key.kty == "OKP" and key.crv == "Ed25519" for key in jwks.keys), jwks
active = expect(
    "POST /auth/introspect",
    post_api_v1_auth_introspect.sync_detailed(client=anonymous, body=IntrospectRequest(token=pair.access_token)),
    200,
    Introspection,
)
assert active.active and active.iss == metadata.issuer and active.role == Role.SYSTEM_ADMIN, active

me = expect("GET /auth/me", get_api_v1_auth_me.sync_detailed(client=admin), 200, User)
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

print(f"generated client: {len(called)} routes called, every answer parsed")
assert len(set(called)) == 22, sorted(set(called))
