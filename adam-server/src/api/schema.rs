//! Request and response bodies of the REST API: defined once in `adam-api` (shared with its
//! clients), named here as the handlers use them.

pub(crate) use adam_api::{
    Dealership as DealershipOut, DealershipCreate, DealershipUpdate, IntrospectRequest,
    Introspection, Jwks, LoginRequest, Paged, RefreshRequest, Role as RoleDto, ServerMetadata,
    SessionList, TokenPair as TokenPairOut, User as UserOut, UserCreate, UserUpdate,
};
