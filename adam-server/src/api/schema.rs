//! Request and response bodies of the REST API: defined once in `adam-api` (shared with its
//! clients), named here as the handlers use them.

pub(crate) use adam_api::{
    AccessReview, AuditPage, CodeRequest, Dealership as DealershipOut, DealershipCreate,
    DealershipUpdate, DisableTotpRequest, EnrolledTokenPair, IntrospectRequest, Introspection,
    Invitation, InvitationCreate, Jwks, LoginRequest, MfaLoginRequest, MfaStatus, MfaTokenRequest,
    OAuthClient, OAuthClientCreate, OAuthClientUpdate, OpenIdConfiguration, Paged, Passkey,
    PasskeyCeremony, PasskeyRegistration, PasskeySecondStep, PasskeySignIn, PasswordChangeRequest,
    PasswordConfirmation, PasswordResetRequest, RecoveryCodes, RefreshRequest, Role as RoleDto,
    ServerMetadata, SessionList, TokenPair as TokenPairOut, TotpEnrollment, User as UserOut,
    UserCreate, UserUpdate,
};
