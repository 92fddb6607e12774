//! The trusted-gateway headers (seed 002): `X-User-Id: <uuid>` and
//! `X-User-Role: USER|ORGANIZER|ADMIN` (a comma-separated list is allowed, names are exact —
//! `ROLE_ADMIN` is accepted, `admin` is refused with 401 —, the highest wins). Read only when
//! enabled in the configuration and the peer is a trusted proxy.

use domain::UserId;
use ports::Actor;
use ports::Credentials;
use uuid::Uuid;

use super::jwt::parse_role;

/// The user id header set by the gateway.
const USER_ID_HEADER: &str = Credentials::USER_ID;
/// The role header set by the gateway.
const USER_ROLE_HEADER: &str = Credentials::USER_ROLE;

/// The actor the headers name: `Ok(None)` when neither is present; an id without a role is
/// a USER. `Err(reason)` for anything malformed: several values, a bad UUID, an unknown
/// role, a role without an id.
pub(crate) fn actor_from_headers(credentials: &Credentials) -> Result<Option<Actor>, String> {
    let id = single(&credentials.user_id, USER_ID_HEADER)?;
    let role = single(&credentials.user_role, USER_ROLE_HEADER)?;
    let Some(id) = id else {
        return match role {
            Some(_) => Err(format!("{USER_ROLE_HEADER} without {USER_ID_HEADER}")),
            None => Ok(None),
        };
    };
    let user_id = Uuid::parse_str(id.trim())
        .map(UserId)
        .map_err(|_| format!("{USER_ID_HEADER} is not a UUID"))?;
    let roles = match role {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| parse_role(name).ok_or_else(|| format!("unknown role {name:?}")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Some(Actor::authenticated(user_id, roles)))
}

fn single<'a>(values: &'a [Option<String>], name: &str) -> Result<Option<&'a str>, String> {
    match values {
        [] => Ok(None),
        [Some(value)] => Ok(Some(value)),
        [None] => Err(format!("{name} is not visible ASCII")),
        _ => Err(format!("several {name} headers")),
    }
}
